"""Terms, commands, events and snapshot of the English auction (拍卖 / 网络竞价).

The typed Structs are the public API; the int-tagged tuples below are the same commands
and events on the batch hot path (`apply_many`), converted one-to-one.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import msgspec

from matching_core.codes import MAX_AMOUNT, is_amount, is_time
from matching_core.common import (
    DEFAULT_QUIET_PERIOD,
    AdmitBidder,
    AuctionClosed,
    BidderAdmitted,
    IncrementBand,
    Tick,
    increments_problem,
)


class EnglishTerms(msgspec.Struct, frozen=True):
    """Times are microseconds since the Unix epoch (UTC); money is int minor units.

    Bidding opens at `opens_at`. Free bidding runs until `scheduled_end`; then the timed
    rounds (限时报价) begin: the auction closes once `quiet_period` passes without a bid,
    or at `hard_cap` if set. `reserve` None means no reserve.
    """

    start_price: int
    increments: tuple[IncrementBand, ...]
    opens_at: int
    scheduled_end: int
    quiet_period: int = DEFAULT_QUIET_PERIOD
    reserve: int | None = None
    hard_cap: int | None = None


def terms_problem(terms: EnglishTerms) -> str | None:
    if not is_amount(terms.start_price):
        return "the start price must be a positive amount"
    if terms.reserve is not None and not is_amount(terms.reserve):
        return "the reserve must be a positive amount"
    if not (is_time(terms.opens_at) and is_time(terms.scheduled_end)):
        return "times must be non-negative microseconds"
    if terms.scheduled_end <= terms.opens_at:
        return "the scheduled end must be after the opening"
    if not is_amount(terms.quiet_period):
        return "the quiet period must be positive"
    if terms.hard_cap is not None and not (
        is_time(terms.hard_cap) and terms.hard_cap >= terms.scheduled_end
    ):
        return "the hard cap must not be before the scheduled end"
    if terms.scheduled_end + terms.quiet_period > MAX_AMOUNT:
        return "the timed rounds would run past the end of time"
    return increments_problem(terms.increments)


def initial_close(terms: EnglishTerms) -> int:
    """Free bidding ends at the scheduled end; one full quiet period must then pass."""
    close = terms.scheduled_end + terms.quiet_period
    if terms.hard_cap is not None and terms.hard_cap < close:
        return terms.hard_cap
    return close


class PlaceBid(msgspec.Struct, frozen=True, tag=True):
    """A straight bid at exactly `amount`."""

    bidder: str
    amount: int


class PlaceProxyBid(msgspec.Struct, frozen=True, tag=True):
    """A maximum: the engine bids the minimum needed for this bidder, up to `max_amount`."""

    bidder: str
    max_amount: int


class BidAccepted(msgspec.Struct, frozen=True, tag=True):
    """An accepted bid and the state it produced (leader, price, leader's maximum, close)."""

    bidder: str
    amount: int
    proxy: bool
    at: int
    leader: str
    price: int
    leader_max: int
    close_at: int


EnglishCommand: TypeAlias = AdmitBidder | PlaceBid | PlaceProxyBid | Tick
EnglishEvent: TypeAlias = BidderAdmitted | BidAccepted | AuctionClosed


class EnglishSnapshot(msgspec.Struct, frozen=True):
    """The whole state: `price` 0 and `leader` "" before the first bid."""

    terms: EnglishTerms
    bidders: list[str]
    price: int
    leader: str
    leader_max: int
    close_at: int
    last_at: int
    bid_count: int
    closed: bool
    sold: bool


CMD_BID = 1
CMD_PROXY = 2
CMD_ADMIT = 3
CMD_TICK = 4

EV_ADMITTED = 1
EV_BID = 2
EV_CLOSED = 3

RawCommand: TypeAlias = tuple[int, str, int, int]
"""(CMD_*, bidder, amount, now); bidder "" and amount 0 where unused."""
RawEvent: TypeAlias = tuple[Any, ...]
"""(EV_*, *fields of the matching event in declaration order)."""


def _money(value: object) -> int:
    """The amount for the batch path, which range-checks but does not type-check: anything
    but an int (a bool, a float, a string) becomes -1, which it rejects as an invalid amount."""
    return value if type(value) is int else -1


def raw_command(command: EnglishCommand, now: int) -> RawCommand:
    if isinstance(command, PlaceBid):
        return (CMD_BID, command.bidder, _money(command.amount), now)
    if isinstance(command, PlaceProxyBid):
        return (CMD_PROXY, command.bidder, _money(command.max_amount), now)
    if isinstance(command, AdmitBidder):
        return (CMD_ADMIT, command.bidder, 0, now)
    return (CMD_TICK, "", 0, now)


_EVENT_KINDS: dict[type, int] = {
    BidderAdmitted: EV_ADMITTED,
    BidAccepted: EV_BID,
    AuctionClosed: EV_CLOSED,
}
_EVENT_TYPES: dict[object, type[EnglishEvent]] = {v: k for k, v in _EVENT_KINDS.items()}


def event_from_raw(raw: RawEvent) -> EnglishEvent:
    return _EVENT_TYPES[raw[0]](*raw[1:])


def event_to_raw(event: EnglishEvent) -> RawEvent:
    return (_EVENT_KINDS[type(event)], *(getattr(event, f) for f in event.__struct_fields__))
