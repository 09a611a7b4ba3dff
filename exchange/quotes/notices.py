"""The public opening record of a quote round (报价开启记录), built from the rows it just wrote.

Nothing is published about a round's proposals before its deadline; at the opening, each
bidder's name, price and receipt commitment, as a tender's opening does. The winner then
appears in the deal announcement that the trade's opening publishes.
"""

from __future__ import annotations

from datetime import datetime

from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn
from exchange.quotes import repository as repo


async def quote_opening(conn: Conn, listing_id: int, now: datetime) -> Notice | None:
    listing = await repo.listing(conn, listing_id)
    round_ = await repo.round_of(conn, listing_id)
    if listing is None or round_ is None or round_["opened_at"] is None:
        return None
    proposals = await repo.proposals(conn, round_["id"])
    revealed = [p for p in proposals if p["revealed_at"] is not None]
    return Notice(
        kind=Kind.QUOTE_OPENING, procedure=listing["reference_no"], subject=f"{listing['reference_no']}-QUOTE-OPENING",
        published_at=now, body={
            "item": {"reference_no": listing["reference_no"], "title": listing["title"], "title_en": listing["title_en"]},
            "seller": listing["seller_name"], "currency": listing["currency"].strip(),
            "method": round_["method"], "price_weight_bp": round_["price_weight_bp"],
            "listing_price": listing["listing_price"], "deadline": instant(round_["deadline"]),
            "opened_at": instant(round_["opened_at"]), "opened": bool(revealed),
            "proposals_received": len(proposals),
            "proposals": [{"bidder": p["bidder_name"], "price": p["price"], "commitment": p["commitment"],
                           "submitted_at": instant(p["submitted_at"])} for p in revealed],
        })
