"""What the sequencer takes (commands, each with its receipt stamp) and what it writes (one
batch per transaction, to a store that refuses an idempotency key it already holds)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from exchange.auctions.lot import Recorded


@dataclass(frozen=True)
class PlaceBidRequest:
    lot: int
    account_id: int
    kind: str  # "bid" | "proxy"
    amount: int
    key: str | None = None
    request_hash: str | None = None


@dataclass(frozen=True)
class Admission:
    lot: int
    account_id: int
    approved_by: int


@dataclass(frozen=True)
class TimerTick:
    """Apply the lot's deadlines and parked commands that the horizon has passed."""

    lot: int


Command = PlaceBidRequest | Admission | TimerTick
Entry = tuple[Command, "asyncio.Future[Any]", int]
"""A submitted command, the future its caller awaits, and its receipt stamp (µs)."""


@dataclass
class BatchWrite:
    """Everything one batch changes, written in one transaction."""

    events: list[Recorded] = field(default_factory=list)
    bidders: list[tuple[int, int, str, int, int]] = field(default_factory=list)
    """(lot, account id, code, approved by, at µs)"""
    requests: list[tuple[int, str, int, str, dict[str, Any], int]] = field(default_factory=list)
    """(account id, idempotency key, lot, request hash, response, at µs)"""
    lots: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.requests)


Answers = dict[tuple[int, str], tuple[str, dict[str, Any]]]


class KeyTaken(Exception):  # noqa: N818 - a condition the writer handles, named for what it says
    """The batch was not written: one of its idempotency keys is already stored."""


class BatchStore(Protocol):
    async def write(self, batch: BatchWrite) -> None:
        """All of it in one transaction, or nothing (KeyTaken when a key is already stored)."""

    async def answers(self, keys: list[tuple[int, str]]) -> Answers:
        """The stored (request hash, answer) of each (account id, idempotency key) found."""
