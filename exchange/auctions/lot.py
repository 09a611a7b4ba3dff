"""One lot in memory: its book, the state last committed, and the public view of its events.

The book runs ahead of the committed state while a batch is being written; everything a
watcher or a room sees is taken from the committed side, so nothing uncommitted is shown.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from exchange.auctions.types import AuctionStatus, Phase, iso
from matching_core.common import AdmitBidder, AuctionClosed, BidderAdmitted
from matching_core.english import EnglishBook
from matching_core.english_types import BidAccepted, EnglishEvent, EnglishSnapshot, EnglishTerms

LADDER_KEPT = 200
EVENT_TYPES: dict[str, type[EnglishEvent]] = {
    "admitted": BidderAdmitted, "bid": BidAccepted, "closed": AuctionClosed,
}
_KIND_OF: dict[type, str] = {v: k for k, v in EVENT_TYPES.items()}


@dataclass(frozen=True)
class LotInfo:
    """What never changes once the auction is scheduled."""

    id: int
    listing_id: int
    seller_id: int
    currency: str
    title: str
    title_en: str
    reference_no: str
    terms: EnglishTerms


@dataclass(frozen=True)
class Recorded:
    """An event with its place in the lot's log, as written to auction_events."""

    lot: int
    seq: int
    kind: str
    payload: dict[str, Any]
    at: int


def event_kind(event: EnglishEvent) -> str:
    return _KIND_OF[type(event)]


def event_payload(event: EnglishEvent, close_at: int) -> dict[str, Any]:
    payload: dict[str, Any] = msgspec.to_builtins(event)
    payload.pop("type", None)
    if isinstance(event, AuctionClosed):
        payload["close_at"] = close_at
    return payload


def decode_event(kind: str, payload: dict[str, Any]) -> EnglishEvent | None:
    """The book event stored under `kind`; None for the host's own `opened` marker."""
    event_type = EVENT_TYPES.get(kind)
    if event_type is None:
        return None
    fields = {name: payload[name] for name in event_type.__struct_fields__}
    return event_type(**fields)


def ladder_entries(payload: dict[str, Any], previous_price: int, codes: dict[str, str]) -> list[dict[str, Any]]:
    """What an accepted bid adds to the ladder, newest first: nothing when the price did not
    move (a leader raising their own maximum: that is private); the bidder at the new price
    when they lead; when an earlier maximum held against them at their amount, their bid and
    then the leader's automatic (proxy) bid at the same amount, which leads on time priority."""
    if payload["price"] <= previous_price:
        return []
    leader, bidder, at = payload["leader"], payload["bidder"], iso(payload["at"])
    if leader == bidder:
        return [{"code": codes.get(leader, ""), "amount": payload["price"], "proxy": bool(payload["proxy"]), "at": at}]
    return [{"code": codes.get(leader, ""), "amount": payload["price"], "proxy": True, "at": at},
            {"code": codes.get(bidder, ""), "amount": payload["amount"], "proxy": bool(payload["proxy"]), "at": at}]


@dataclass
class Lot:
    info: LotInfo
    book: EnglishBook
    committed: EnglishSnapshot
    seq: int
    opened: bool
    codes: dict[str, str] = field(default_factory=dict)
    ladder: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LADDER_KEPT))
    result: dict[str, Any] | None = None
    closed_at: int | None = None
    # working side, ahead of the committed one during a batch
    w_seq: int = 0
    w_opened: bool = False

    @classmethod
    def replay(cls, info: LotInfo, events: list[Recorded]) -> Lot:
        book = EnglishBook(info.terms)
        lot = cls(info, book, book.snapshot(), 0, False)
        lot.follow(events)
        return lot

    def follow(self, events: list[Recorded]) -> None:
        """Applies committed events read from the log (those already applied are skipped): how
        a process that does not run the engine keeps its copy of a lot up to date."""
        fresh = [recorded for recorded in events if recorded.seq > self.seq]
        for recorded in fresh:
            event = decode_event(recorded.kind, recorded.payload)
            if event is not None:
                self.book.apply_event(event)
            self.absorb(recorded)
        if fresh or self.seq == 0:
            self.committed = self.book.snapshot()
            self.w_seq, self.w_opened = self.seq, self.opened

    # -- the committed side ------------------------------------------------------

    def absorb(self, recorded: Recorded) -> None:
        """Move the committed view past one event (the book has already applied it)."""
        payload = recorded.payload
        if recorded.kind == "admitted":
            self.codes[payload["bidder"]] = payload["code"]
        elif recorded.kind == "opened":
            self.opened = True
        elif recorded.kind == "bid":
            for entry in reversed(ladder_entries(payload, self.ladder[0]["amount"] if self.ladder else 0, self.codes)):
                self.ladder.appendleft(entry)
        elif recorded.kind == "closed":
            self.closed_at = payload["close_at"]
            self.result = {
                "sold": payload["sold"],
                "price": payload["price"] if payload["sold"] else None,
                "winner": self.codes.get(payload["winner"]) if payload["sold"] else None,
            }
        self.seq = recorded.seq

    def commit(self, events: list[Recorded]) -> None:
        for recorded in events:
            self.absorb(recorded)
        self.committed = self.book.snapshot()
        self.w_seq, self.w_opened = self.seq, self.opened

    def rollback(self) -> None:
        self.book = EnglishBook.restore(self.committed)
        self.w_seq, self.w_opened = self.seq, self.opened

    @property
    def status(self) -> AuctionStatus:
        if self.committed.closed:
            return AuctionStatus.CLOSED
        return AuctionStatus.OPEN if self.opened else AuctionStatus.SCHEDULED

    def phase(self, now: int) -> Phase:
        if self.committed.closed:
            return Phase.CLOSED
        if not self.opened and now < self.info.terms.opens_at:
            return Phase.SCHEDULED
        return Phase.TIMED if now >= self.info.terms.scheduled_end else Phase.FREE

    def minimum_bid(self) -> int:
        price = self.committed.price
        return price + self.book.step_at(price) if price else self.info.terms.start_price

    def leader_code(self) -> str | None:
        return self.codes.get(self.committed.leader) if self.committed.leader else None

    # -- the working side ----------------------------------------------------------

    def deadline(self) -> int | None:
        """When the timer must next look at this lot: the opening, then the close."""
        if not self.w_opened:
            return self.info.terms.opens_at
        return self.book.next_deadline()

    def admitted(self, bidder: str) -> bool:
        return self.book.code_of(bidder) is not None


def admit_command(account_id: int) -> AdmitBidder:
    return AdmitBidder(str(account_id))
