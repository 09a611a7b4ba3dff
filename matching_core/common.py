"""Commands, events and helpers that every book shares."""

from __future__ import annotations

import hashlib
from bisect import bisect_right

import msgspec

from matching_core.codes import is_amount

DEFAULT_QUIET_PERIOD = 300_000_000
"""限时报价 quiet period: 300 s in microseconds."""


class AdmitBidder(msgspec.Struct, frozen=True, tag=True):
    """Admit a qualified, deposited bidder; only admitted bidders may bid."""

    bidder: str


class Tick(msgspec.Struct, frozen=True, tag=True):
    """Timer firing: closes whatever phase is due at `now`; a no-op otherwise."""


class BidderAdmitted(msgspec.Struct, frozen=True, tag=True):
    bidder: str
    code: str
    at: int


class AuctionClosed(msgspec.Struct, frozen=True, tag=True):
    """The result; `winner` is "" and `sold` False when the auction failed."""

    at: int
    sold: bool
    winner: str
    price: int


class IncrementBand(msgspec.Struct, frozen=True):
    """From `from_price` upwards (until the next band) the increment is `step`."""

    from_price: int
    step: int


def bidder_code(index: int) -> str:
    """Anonymous code shown instead of the name, in order of admission: A001, A002..."""
    return f"A{index + 1:03d}"


def fixed_increment(step: int) -> tuple[IncrementBand, ...]:
    return (IncrementBand(0, step),)


def increments_problem(bands: tuple[IncrementBand, ...]) -> str | None:
    if not bands:
        return "the increment table is empty"
    if bands[0].from_price != 0:
        return "the first increment band must start at 0"
    previous = -1
    for band in bands:
        if type(band.from_price) is not int or band.from_price <= previous:
            return "increment bands must start at strictly rising prices"
        if not is_amount(band.step):
            return "an increment step must be a positive amount"
        previous = band.from_price
    return None


class IncrementTable:
    """Increment applicable at a price: the step of the band containing that price."""

    __slots__ = ("bounds", "steps")

    def __init__(self, bands: tuple[IncrementBand, ...]) -> None:
        self.bounds = [band.from_price for band in bands]
        self.steps = [band.step for band in bands]

    def step_at(self, price: int) -> int:
        return self.steps[bisect_right(self.bounds, price) - 1]


def digest(snapshot: msgspec.Struct) -> str:
    """sha256 over msgpack, which is canonical for a Struct of ints, strs, bools and lists."""
    return hashlib.sha256(msgspec.msgpack.encode(snapshot)).hexdigest()
