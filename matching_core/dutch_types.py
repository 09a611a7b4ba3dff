"""Terms, commands, events and snapshot of the Dutch auction (降价拍卖)."""

from __future__ import annotations

from enum import IntEnum
from typing import TypeAlias

import msgspec

from matching_core.codes import MAX_AMOUNT, is_amount, is_time
from matching_core.common import (
    DEFAULT_QUIET_PERIOD,
    AdmitBidder,
    AuctionClosed,
    BidderAdmitted,
    Tick,
)


class DutchTerms(msgspec.Struct, frozen=True):
    """The price starts at `start_price` at `opens_at` and falls by `step` every `interval`
    down to `floor_price`, where it stays for one interval before the auction fails.

    With `insider` set, the first accept opens a `sealed_window` for sealed higher bids by
    the others; the first accepter then has `match_window` to match the best one.
    """

    start_price: int
    floor_price: int
    step: int
    interval: int
    opens_at: int
    insider: bool = False
    sealed_window: int = DEFAULT_QUIET_PERIOD
    match_window: int = DEFAULT_QUIET_PERIOD


def terms_problem(terms: DutchTerms) -> str | None:
    if not (
        is_amount(terms.start_price) and is_amount(terms.floor_price) and is_amount(terms.step)
    ):
        return "prices and the step must be positive amounts"
    if terms.floor_price > terms.start_price:
        return "the floor must not be above the start price"
    if not (
        is_amount(terms.interval)
        and is_amount(terms.sealed_window)
        and is_amount(terms.match_window)
    ):
        return "the interval and windows must be positive"
    if not is_time(terms.opens_at) or type(terms.insider) is not bool:
        return "the opening must be non-negative microseconds and insider a bool"
    if falling_ends_at(terms) + terms.sealed_window + terms.match_window > MAX_AMOUNT:
        return "the auction would run past the end of time"
    return None


def falling_ends_at(terms: DutchTerms) -> int:
    """One interval after the price first reaches the floor, when nobody has accepted."""
    drops = -((terms.floor_price - terms.start_price) // terms.step)
    return terms.opens_at + (drops + 1) * terms.interval


class DutchPhase(IntEnum):
    FALLING = 1
    SEALED = 2
    MATCHING = 3
    CLOSED = 4


class AcceptPrice(msgspec.Struct, frozen=True, tag=True):
    """Take the lot at the current price."""

    bidder: str


class SubmitSealedBid(msgspec.Struct, frozen=True, tag=True):
    """Insider variant: a sealed bid above the accepted price, once per bidder."""

    bidder: str
    amount: int


class MatchBestBid(msgspec.Struct, frozen=True, tag=True):
    """Insider variant: the first accepter matches the best sealed bid and wins at it."""

    bidder: str


class DeclineMatch(msgspec.Struct, frozen=True, tag=True):
    """Insider variant: the first accepter declines; the best sealed bid wins."""

    bidder: str


class PriceAccepted(msgspec.Struct, frozen=True, tag=True):
    """`sealed_until` is 0 without the insider variant (the accept then closes the auction)."""

    bidder: str
    price: int
    at: int
    sealed_until: int


class SealedBidPlaced(msgspec.Struct, frozen=True, tag=True):
    bidder: str
    amount: int
    at: int


class MatchOffered(msgspec.Struct, frozen=True, tag=True):
    """The sealed window closed with sealed bids; the first accepter may match until `match_until`."""

    at: int
    best_bidder: str
    best_amount: int
    match_until: int


class SealedBid(msgspec.Struct, frozen=True):
    bidder: str
    amount: int


DutchCommand: TypeAlias = (
    AdmitBidder | AcceptPrice | SubmitSealedBid | MatchBestBid | DeclineMatch | Tick
)
DutchEvent: TypeAlias = (
    BidderAdmitted | PriceAccepted | SealedBidPlaced | MatchOffered | AuctionClosed
)


class DutchSnapshot(msgspec.Struct, frozen=True):
    """The whole state; `sealed_bids` in submission order (the earlier wins equal amounts)."""

    terms: DutchTerms
    bidders: list[str]
    phase: DutchPhase
    accepter: str
    accepted_price: int
    sealed_until: int
    sealed_bids: list[SealedBid]
    match_until: int
    last_at: int
    sold: bool
    winner: str
    final_price: int
