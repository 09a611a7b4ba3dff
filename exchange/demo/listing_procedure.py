"""A listing in its procedure in the demo: announced with its period ending a few minutes from
now under the demo's acceleration (10 accelerated days), one demo investor's intent already
registered, so a visitor can register intent too (investor@capital.demo), then watch the
period end and act on the rest: qualify as the operator, pay the deposit, confirm the
agreement or bid in the auction.

Called at every start of the demo exchange. While a demo procedure listing is under way it
does nothing; once the last one is unsold it is relisted, once it was dealt a new achievement
is listed, so each `make run` offers a procedure to follow.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from exchange.accounts.types import Account
from exchange.achievements.types import AchievementInput
from exchange.clock import FixedClock
from exchange.demo.loader import DATA
from exchange.listings.procedure_types import IntentInput
from exchange.listings.service import ListingService
from exchange.listings.types import DEFAULT_ANNOUNCEMENT_WD, ListingInput, Review
from exchange.services import Services

log = logging.getLogger(__name__)

TITLE = "高通量固态电解质筛选方法"
ENDS_AFTER = timedelta(days=10)  # ten minutes under the demo's acceleration of 1440
UNDER_WAY = ("announced", "suspended", "qualifying", "agreement", "competition")
PRICE = 80_000_000
CONDITIONS = ("依法设立的企业法人。A legally established enterprise.\n"
              "具有电池材料研发或生产能力。Able to develop or produce battery materials.\n"
              "近三年无重大违法记录。No serious violations in the past three years.")
TERMS = ("成交后 5 个工作日内签署转让合同，10 个工作日内付清价款。\n"
         "Contract within 5 working days of the deal, payment within 10 working days.")


async def ensure_demo_procedure(services: Services) -> int | None:
    """The id of the listing announced now, or None when a demo procedure is under way."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    operator = await services.accounts.by_email(data["operator"]["email"])
    seller = await services.accounts.by_email(data["institutions"][0]["email"])
    async with services.pool.acquire() as conn:
        latest = await conn.fetchrow(
            """SELECT l.id, l.status, l.achievement_id FROM listings l JOIN achievements a ON a.id = l.achievement_id
               WHERE a.title = $1 AND l.seller_id = $2 ORDER BY l.id DESC LIMIT 1""", TITLE, seller.id)
    if latest is not None and latest["status"] in UNDER_WAY + ("submitted",):
        return None
    form = ListingInput(achievement_id=0, listing_price=PRICE, terms=TERMS, bidder_conditions=CONDITIONS,
                        deposit=PRICE // 10)
    if latest is not None and latest["status"] == "unsold":
        listing = await services.procedure.relist(seller, latest["id"], ListingInput(
            **{f: getattr(form, f) for f in form.__struct_fields__} | {"achievement_id": latest["achievement_id"]}))
    else:
        achievement = await services.achievements.record(seller, AchievementInput(
            title=TITLE, title_en="High-throughput screening of solid-state electrolytes",
            summary="以机器学习引导的高通量实验筛选硫化物固态电解质，筛选效率提升 20 倍。",
            summary_en="Machine-learning-guided high-throughput screening of sulfide solid electrolytes, 20x faster.",
            field="new_energy", kind="patent", funding_source="public", maturity="pilot",
            programme="国家自然科学基金", ip_identifiers=["ZL202410555666.7"], inventors=["陈晨", "王磊"],
            appraised_value=PRICE,
        ))
        listing = await services.listings.submit(seller, ListingInput(
            **{f: getattr(form, f) for f in form.__struct_fields__} | {"achievement_id": achievement.id}))
    await _approve_ending_soon(services, operator, listing.id)
    investor = await services.accounts.by_email(data["investors"][1]["email"])
    await services.procedure.register_intent(investor, listing.id, IntentInput(
        statement="华信为依法设立的企业法人，设有电池材料中试线，近三年无违法记录。\n"
                  "A legally established company with a battery-materials pilot line and a clean record."))
    log.info("demo listing %s in its announcement period; the procedure follows", listing.id)
    return listing.id


async def _approve_ending_soon(services: Services, operator: Account, listing_id: int) -> None:
    """Approved as if some time ago, so that its 20 working days end `ENDS_AFTER` (accelerated) from now."""
    now = services.clock.now().replace(microsecond=0)
    span = services.calendar.period_end(now, DEFAULT_ANNOUNCEMENT_WD) - now
    soon = ENDS_AFTER / services.calendar.acceleration
    start = now - span + soon
    while services.calendar.period_end(start, DEFAULT_ANNOUNCEMENT_WD) < now + soon / 2:  # weekends in between
        start += soon / 10
    backdated = ListingService(services.pool, FixedClock(start), services.calendar, services.listings.rules)
    await backdated.review(operator, listing_id, Review(decision="approve"))
