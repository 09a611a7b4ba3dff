"""A live auction in the demo: opens as soon as its notice period allows (7 days, a few minutes
under the demo's acceleration), with short periods so a visitor sees it all.

Called at every start of the demo exchange: when no auction is scheduled or open, it
schedules one on the next announced English-auction listing that has not been auctioned
yet and qualifies the demo investors, whose deposits arrive by bank transfer, so each
`make run` offers a room to bid in.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from exchange.auctions.types import AuctionSpec
from exchange.demo.loader import DATA
from exchange.services import Services
from exchange.settlement.types import BankTransfer

log = logging.getLogger(__name__)

OPENS_AFTER = timedelta(minutes=1)
FREE_BIDDING = timedelta(minutes=10)
QUIET_PERIOD_S = 60


async def ensure_live_demo_auction(services: Services) -> int | None:
    """The id of the auction scheduled now, or None when one is already live (or none can be)."""
    auctions = services.auctions
    known = await auctions.list_auctions(limit=200)
    if any(a["status"] != "closed" for a in known):
        return None
    data = json.loads(DATA.read_text(encoding="utf-8"))
    operator = await services.accounts.by_email(data["operator"]["email"])
    auctioned = {a["listing_id"] for a in known}
    async with services.pool.acquire() as conn:
        listing_id = await conn.fetchval(
            """SELECT id FROM listings
               WHERE status = 'announced' AND competitive_method = 'english_auction'
                 AND NOT (id = ANY($1::bigint[]))
                 AND NOT EXISTS (SELECT 1 FROM listing_intents i WHERE i.listing_id = listings.id)
               ORDER BY id LIMIT 1""",
            list(auctioned),
        )
        if listing_id is None:
            log.info("every demo listing has had its auction; no new demo auction")
            return None
        price: int = await conn.fetchval("SELECT listing_price FROM listings WHERE id = $1", listing_id)
    now = services.clock.now().replace(microsecond=0)
    opens_at = now + services.auctions.notice + OPENS_AFTER
    spec = AuctionSpec(
        start_price=price,
        increment=max(price // 100, 100),
        opens_at=opens_at,
        scheduled_end=opens_at + FREE_BIDDING,
        quiet_period_s=QUIET_PERIOD_S,
    )
    auction = await auctions.schedule(operator, listing_id, spec)
    for investor in data["investors"]:
        account = await services.accounts.by_email(investor["email"])
        qualified = await services.settlement.qualify(operator, auction["auction_id"], account.id)
        deposit = qualified["deposit"]
        if deposit is not None and deposit["status"] == "due":
            # the demo investors' deposits arrived by bank transfer, matched by the operator
            await services.settlement.confirm_bank_transfer(operator, BankTransfer(
                reference_code=deposit["reference_code"], amount=deposit["amount"],
                statement_ref=f"DEMO-{deposit['reference_code']}"))
    log.info("demo auction %s opens at %s", auction["auction_id"], spec.opens_at.isoformat())
    return int(auction["auction_id"])
