"""What the auction room and the auction lists show, from a lot's committed state."""

from __future__ import annotations

from typing import Any

from exchange.accounts.types import Account
from exchange.auctions.lot import Lot
from exchange.auctions.types import iso

LADDER_SHOWN = 50


def terms_view(lot: Lot) -> dict[str, Any]:
    """The public terms; the reserve amount stays confidential, only its existence is shown."""
    terms = lot.info.terms
    return {
        "start_price": terms.start_price,
        "has_reserve": terms.reserve is not None,
        "increments": [{"from_price": b.from_price, "step": b.step} for b in terms.increments],
        "quiet_period_s": terms.quiet_period // 1_000_000,
        "opens_at": iso(terms.opens_at),
        "scheduled_end": iso(terms.scheduled_end),
        "hard_cap": iso(terms.hard_cap),
    }


def summary_view(lot: Lot, now: int) -> dict[str, Any]:
    info = lot.info
    committed = lot.committed
    return {
        "auction_id": info.id,
        "listing_id": info.listing_id,
        "reference_no": info.reference_no,
        "title": info.title,
        "title_en": info.title_en,
        "currency": info.currency,
        "status": lot.status.value,
        "phase": lot.phase(now).value,
        "price": committed.price or None,
        "minimum_bid": lot.minimum_bid(),
        "leader": lot.leader_code(),
        "opens_at": iso(info.terms.opens_at),
        "scheduled_end": iso(info.terms.scheduled_end),
        "close_at": iso(lot.closed_at if lot.closed_at is not None else committed.close_at),
        "bidder_count": len(lot.codes),
        "bid_count": committed.bid_count,
        "seq": lot.seq,
    }


def room_view(lot: Lot, now: int, viewer: Account | None, winner_name: str | None) -> dict[str, Any]:
    committed = lot.committed
    terms = lot.info.terms
    room = summary_view(lot, now) | {
        "terms": terms_view(lot),
        "step": lot.book.step_at(committed.price or terms.start_price),
        "reserve_met": terms.reserve is None or committed.price >= terms.reserve,
        "server_now": iso(now),
        "ladder": list(lot.ladder)[:LADDER_SHOWN],
        "result": None if lot.result is None else lot.result | {"winner_name": winner_name},
        "you": None,
    }
    bidder = None if viewer is None else str(viewer.id)
    if bidder is not None and bidder in lot.codes:
        leads = committed.leader == bidder
        room["you"] = {
            "code": lot.codes[bidder],
            "you_lead": leads,
            # a proxy maximum still working above the price; a straight bid leaves none
            "your_maximum": committed.leader_max if leads and committed.leader_max > committed.price else None,
            "can_bid": not committed.closed,
        }
    return room
