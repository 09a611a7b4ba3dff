"""What the sequencer tells a bidder of a bid, and writes of a lot after each batch."""

from __future__ import annotations

from typing import Any

from exchange.auctions.commands import PlaceBidRequest
from exchange.auctions.lot import Lot
from exchange.auctions.types import AuctionStatus, Phase, iso, rejection_name
from matching_core.codes import Rejection


def bid_answer(lot: Lot, request: PlaceBidRequest, now: int, seq: int | None,
               rejection: Rejection | None) -> dict[str, Any]:
    """What the bidder is told of a bid: accepted or the rule that refused it, and the lot now."""
    book = lot.book
    bidder = str(request.account_id)
    close_at = book.next_deadline()
    if book.closed:
        phase = Phase.CLOSED
    elif not lot.w_opened:
        phase = Phase.SCHEDULED
    else:
        phase = Phase.TIMED if now >= lot.info.terms.scheduled_end else Phase.FREE
    return {
        "status": "rejected" if rejection else "accepted",
        "code": rejection_name(rejection.code) if rejection else None,
        "reason": rejection.reason if rejection else None,
        "auction_id": lot.info.id,
        "seq": seq,
        "kind": request.kind,
        "amount": request.amount,
        "price": book.price or None,
        "leader": book.code_of(book.leader) if book.leader else None,
        "you_lead": book.leader == bidder,
        "your_code": book.code_of(bidder),
        "minimum_bid": book.minimum_bid(),
        "close_at": iso(close_at if close_at is not None else lot.closed_at),
        "phase": phase.value,
        "at": iso(now),
    }


def lot_row(lot: Lot) -> dict[str, Any]:
    book = lot.book
    closed = book.closed
    row: dict[str, Any] = {
        "id": lot.info.id,
        "last_seq": lot.w_seq,
        "state_hash": book.state_hash(),
        "next_deadline": lot.deadline(),
        "status": (AuctionStatus.CLOSED if closed else
                   AuctionStatus.OPEN if lot.w_opened else AuctionStatus.SCHEDULED).value,
        "sold": None, "winner_id": None, "price": None, "closed_at": None,
    }
    if closed:
        snapshot = book.snapshot()
        row |= {"sold": snapshot.sold, "closed_at": snapshot.close_at}
        if snapshot.sold:
            row |= {"winner_id": int(snapshot.leader), "price": snapshot.price}
    return row
