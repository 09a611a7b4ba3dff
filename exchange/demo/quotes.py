"""A one-time sealed quote (一次性报价) in the demo: a demo listing sold by a quote has had its
announcement period, both demo investors registered intent during it, and on the first start
the operator qualifies them, their deposits arrive by bank transfer, the outcome rule sends
the listing to competition and the operator opens the quote round with the shortest deadline
(3 working days, a few minutes under the demo's acceleration). A visitor logged in as a demo
investor (investor@capital.demo or buyer@huaxin.demo) submits a sealed quote, and after the
deadline sees the opening, the result and, as the winner, the trade.

The history before the first start (the approval and the intents, a month earlier) is written
by the same services running on a clock set back to those days, so every record and deadline
is what the rules give; nothing is shortened. Called at every start; it prepares the round once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from exchange.accounts.types import Account
from exchange.achievements.types import AchievementInput
from exchange.clock import FixedClock
from exchange.demo.loader import DATA
from exchange.errors import ExchangeError
from exchange.listings.procedure import ListingProcedureService
from exchange.listings.procedure_types import IntentDecision, IntentInput
from exchange.listings.service import ListingService
from exchange.listings.types import DEFAULT_ANNOUNCEMENT_WD, ListingInput, Review
from exchange.quotes.types import RoundInput
from exchange.services import Services
from exchange.settlement.types import BankTransfer

log = logging.getLogger(__name__)

TITLE = "基于声学超材料的工业降噪结构"
PRICE = 150_000_000
CONDITIONS = ("依法设立的企业法人。A legally established enterprise.\n"
              "具有声学或建材产品生产能力。Able to make acoustic or building-material products.")
TERMS = ("成交后 3 个工作日内签署转让合同，5 个工作日内付清价款。\n"
         "Contract within 3 working days of the deal, the balance within 5 working days.")
STATEMENTS = (
    "依法设立的企业法人，拥有隔声材料生产线。A legally established company with a sound-insulation line.",
    "依法设立的企业法人，从事建筑声学产品生产。A legally established maker of architectural acoustics.",
)


def _announced_at(services: Services, now: datetime) -> datetime:
    """When a listing must have been approved for its 20 working days to have ended an
    (accelerated) hour ago."""
    hour = timedelta(hours=1) / services.calendar.acceleration
    start = now - (services.calendar.period_end(now, DEFAULT_ANNOUNCEMENT_WD) - now) - hour
    while services.calendar.period_end(start, DEFAULT_ANNOUNCEMENT_WD) > now - hour:
        start -= hour
    return start


async def ensure_demo_quote_round(services: Services) -> int | None:
    """The listing whose quote round was opened now, or None when the demo has had its round."""
    async with services.pool.acquire() as conn:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM quote_rounds)"):
            return None
    data = json.loads(DATA.read_text(encoding="utf-8"))
    operator = await services.accounts.by_email(data["operator"]["email"])
    seller = await services.accounts.by_email(data["institutions"][1]["email"])
    investors = [await services.accounts.by_email(i["email"]) for i in data["investors"]]
    try:
        listing_id = await _history(services, operator, seller, investors)
        for intent in (await services.procedure.procedure(operator, listing_id))["intents"]:
            await services.procedure.decide(operator, listing_id, intent["id"], IntentDecision(decision="qualify"))
        for intent in (await services.procedure.procedure(operator, listing_id))["intents"]:
            deposit = intent["deposit"]
            if deposit is not None and deposit["status"] == "due":  # arrived by bank transfer, matched by the operator
                await services.settlement.confirm_bank_transfer(operator, BankTransfer(
                    reference_code=deposit["reference_code"], amount=deposit["amount"],
                    statement_ref=f"DEMO-{deposit['reference_code']}"))
        await services.procedure.sweep()  # two qualified, deposited buyers: competition
        deadline = services.calendar.period_end(services.clock.now(), services.quotes.rules.min_wd)
        opened = await services.quotes.open_round(operator, listing_id, RoundInput(
            deadline=deadline + timedelta(minutes=5) / services.calendar.acceleration + timedelta(seconds=5)))
    except ExchangeError as exc:
        log.warning("no demo quote round: %s", exc.detail)
        return None
    log.info("demo quote round on listing %s collects quotes until %s", listing_id, opened["round"]["deadline"])
    return listing_id


async def _history(services: Services, operator: Account, seller: Account, investors: list[Account]) -> int:
    """The listing approved a month ago and the intents registered during its period; its
    period ended an hour ago, and the sweep sends it to qualification."""
    achievement = await services.achievements.record(seller, AchievementInput(
        title=TITLE, title_en="Acoustic-metamaterial noise barriers for industry",
        summary="亚波长声学超材料单元组合的降噪结构，低频（100–500 Hz）插入损失提高 12 dB，厚度减少 60%。",
        summary_en="Sub-wavelength acoustic metamaterial cells: 12 dB more insertion loss at 100-500 Hz "
                   "with 60% less thickness.",
        field="advanced_manufacturing", kind="patent", funding_source="public", maturity="pilot",
        programme="国家重点研发计划", ip_identifiers=["ZL202310246810.2"], inventors=["李舟", "赵文"],
        appraised_value=PRICE,
    ))
    listing = await services.listings.submit(seller, ListingInput(
        achievement_id=achievement.id, listing_price=PRICE, terms=TERMS, bidder_conditions=CONDITIONS,
        competitive_method="sealed_quote", deposit=PRICE // 10))
    start = _announced_at(services, services.clock.now())
    await ListingService(services.pool, FixedClock(start), services.calendar, services.listings.rules).review(
        operator, listing.id, Review(decision="approve"))
    during = ListingProcedureService(services.pool, FixedClock(start + timedelta(days=2) / services.calendar.acceleration),
                                     services.calendar, services.auctions, services.settlement, services.trades,
                                     services.procedure.rules)
    for investor, statement in zip(investors, STATEMENTS, strict=False):
        await during.register_intent(investor, listing.id, IntentInput(statement=statement))
    await services.procedure.sweep()  # the period is over: qualification
    return listing.id
