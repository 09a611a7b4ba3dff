"""Auction inputs, statuses and the conversions between the core's integers and the shell's types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import msgspec

from exchange.errors import ExchangeError
from matching_core.codes import RejectCode

DEFAULT_QUIET_PERIOD_S = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AuctionStatus(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class Phase(StrEnum):
    SCHEDULED = "scheduled"
    FREE = "free"  # free bidding until the scheduled end
    TIMED = "timed"  # 限时报价: timed rounds, each bid restarts the quiet period
    CLOSED = "closed"


class IncrementStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From `from_price` upwards (until the next band) bids rise by whole multiples of `step`."""

    from_price: int
    step: int


class AuctionSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What an operator fills in to schedule an English auction; money in minor units.

    Exactly one of `increment` (a fixed 加价幅度) and `increment_table` is given.
    """

    start_price: int
    opens_at: datetime
    scheduled_end: datetime
    increment: int | None = None
    increment_table: list[IncrementStep] | None = None
    reserve: int | None = None
    quiet_period_s: int = DEFAULT_QUIET_PERIOD_S
    hard_cap: datetime | None = None


class SequencerUnavailable(ExchangeError):
    """The bid was not recorded (the database refused the batch or the engine is stopping); retry."""

    status = 503
    title = "Temporarily unavailable"
    code = "unavailable"


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@lru_cache(maxsize=4096)
def iso(micros: int | None) -> str | None:
    """Cached: a batch formats the same few instants many times."""
    return None if micros is None else from_micros(micros).isoformat()


def rejection_name(code: RejectCode) -> str:
    return code.name.lower()
