"""Reference English auction: every commitment kept, the price found by trying each step.

Slow and plain on purpose; the property suite checks the fast book against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from matching_core.codes import MAX_AMOUNT, RejectCode, Rejection, is_id, is_time, reject
from matching_core.common import (
    AdmitBidder,
    AuctionClosed,
    BidderAdmitted,
    Tick,
    bidder_code,
    digest,
)
from matching_core.english_types import (
    CMD_ADMIT,
    CMD_BID,
    CMD_PROXY,
    BidAccepted,
    EnglishCommand,
    EnglishEvent,
    EnglishSnapshot,
    EnglishTerms,
    PlaceBid,
    PlaceProxyBid,
    RawCommand,
    RawEvent,
    event_to_raw,
    terms_problem,
)


@dataclass(frozen=True)
class Commitment:
    """A bidder's promise to pay up to `value`, made at position `seq` in the bid order."""

    bidder: str
    value: int
    seq: int


class ReferenceEnglishBook:
    def __init__(self, terms: EnglishTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self.terms = terms
        self.bidders: list[str] = []
        self.commitments: list[Commitment] = []
        self.highest_straight = 0
        self.price = 0
        self.leader = ""
        self.close_at = terms.scheduled_end + terms.quiet_period
        if terms.hard_cap is not None:
            self.close_at = min(self.close_at, terms.hard_cap)
        self.last_at = 0
        self.bid_count = 0
        self.closed = False
        self.sold = False

    def increment_at(self, price: int) -> int:
        step = 0
        for band in self.terms.increments:
            if band.from_price <= price:
                step = band.step
        return step

    def step_at(self, price: int) -> int:
        return self.increment_at(price)

    def minimum_bid(self) -> int:
        if not self.leader:
            return self.terms.start_price
        return self.price + self.increment_at(self.price)

    def leader_max(self) -> int:
        return max((c.value for c in self.commitments if c.bidder == self.leader), default=0)

    def next_deadline(self) -> int | None:
        return None if self.closed else self.close_at

    def apply(self, command: EnglishCommand, now: int) -> list[EnglishEvent] | Rejection:
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if isinstance(command, PlaceBid):
            if not is_id(command.bidder):
                return reject(RejectCode.INVALID_BIDDER)
            return self.bid(command.bidder, command.amount, False, now)
        if isinstance(command, PlaceProxyBid):
            if not is_id(command.bidder):
                return reject(RejectCode.INVALID_BIDDER)
            return self.bid(command.bidder, command.max_amount, True, now)
        if isinstance(command, AdmitBidder):
            return self.admit(command.bidder, now)
        if isinstance(command, Tick):
            return self.tick(now)
        return reject(RejectCode.INVALID_COMMAND)

    def apply_many(self, commands: Iterable[RawCommand], out: list[RawEvent]) -> list[int]:
        codes = []
        for kind, bidder, amount, now in commands:
            command: EnglishCommand
            if kind == CMD_BID:
                command = PlaceBid(bidder, amount)
            elif kind == CMD_PROXY:
                command = PlaceProxyBid(bidder, amount)
            elif kind == CMD_ADMIT:
                command = AdmitBidder(bidder)
            else:
                command = Tick()
            result = self.apply(command, now)
            if isinstance(result, Rejection):
                codes.append(int(result.code))
            else:
                codes.append(0)
                out.extend(event_to_raw(event) for event in result)
        return codes

    def admit(self, bidder: str, now: int) -> list[EnglishEvent] | Rejection:
        if now < self.last_at:
            return reject(RejectCode.STALE_TIME)
        if self.closed or now >= self.close_at:
            return reject(RejectCode.AUCTION_CLOSED)
        if not is_id(bidder):
            return reject(RejectCode.INVALID_BIDDER)
        if bidder in self.bidders:
            return reject(RejectCode.DUPLICATE_BIDDER)
        event = BidderAdmitted(bidder, bidder_code(len(self.bidders)), now)
        self.apply_event(event)
        return [event]

    def tick(self, now: int) -> list[EnglishEvent] | Rejection:
        if now < self.last_at:
            return reject(RejectCode.STALE_TIME)
        if self.closed or now < self.close_at:
            return []
        reserve = self.terms.reserve or 0
        if self.leader and self.price >= reserve:
            event = AuctionClosed(now, True, self.leader, self.price)
        else:
            event = AuctionClosed(now, False, "", 0)
        self.apply_event(event)
        return [event]

    def bid(
        self, bidder: str, amount: int, proxy: bool, now: int
    ) -> list[EnglishEvent] | Rejection:
        problem = self.check_bid(bidder, amount, proxy, now)
        if problem is not None:
            return reject(problem)
        base = self.price if self.leader else self.terms.start_price
        step = self.increment_at(base)
        trial = [*self.commitments, Commitment(bidder, amount, self.bid_count)]
        floor = self.highest_straight if proxy else max(self.highest_straight, amount)
        leader = best_bidder(trial)
        leader_max = max(c.value for c in trial if c.bidder == leader)
        price = base
        while not self.holds(
            trial, floor, leader, price, self.must_meet_reserve(base, step, leader_max)
        ):
            price += step
            assert price <= leader_max, "a leader always holds at its own maximum"
        cap = MAX_AMOUNT if self.terms.hard_cap is None else self.terms.hard_cap
        close_at = max(self.close_at, min(now + self.terms.quiet_period, cap))
        event = BidAccepted(bidder, amount, proxy, now, leader, price, leader_max, close_at)
        self.apply_event(event)
        return [event]

    def check_bid(self, bidder: str, amount: int, proxy: bool, now: int) -> RejectCode | None:
        if now < self.last_at:
            return RejectCode.STALE_TIME
        if self.closed or now >= self.close_at:
            return RejectCode.AUCTION_CLOSED
        if now < self.terms.opens_at:
            return RejectCode.NOT_OPEN
        if type(amount) is not int or amount < 1 or amount > MAX_AMOUNT:
            return RejectCode.INVALID_AMOUNT
        if bidder not in self.bidders:
            return RejectCode.UNKNOWN_BIDDER
        if not self.leader:
            start = self.terms.start_price
            if amount < start:
                return RejectCode.BELOW_START
            if (amount - start) % self.increment_at(start) != 0:
                return RejectCode.NOT_WHOLE_INCREMENT
            return None
        step = self.increment_at(self.price)
        if bidder == self.leader:
            if not proxy:
                return RejectCode.ALREADY_LEADING
            if amount <= self.leader_max():
                return RejectCode.MAX_NOT_RAISED
        elif amount < self.price + step:
            return RejectCode.BELOW_MINIMUM
        if (amount - self.price) % step != 0:
            return RejectCode.NOT_WHOLE_INCREMENT
        return None

    def must_meet_reserve(self, base: int, step: int, leader_max: int) -> bool:
        """A proxy climbs to the reserve when the leader's maximum reaches it on the grid."""
        reserve = self.terms.reserve or 0
        reachable = base
        while reachable < reserve:
            reachable += step
        return reserve > 0 and reachable <= leader_max

    def holds(
        self, trial: list[Commitment], floor: int, leader: str, price: int, meet_reserve: bool
    ) -> bool:
        """Whether `leader` holds at `price` against every other commitment."""
        if price < floor:
            return False
        if meet_reserve and price < (self.terms.reserve or 0):
            return False
        leader_since = min(c.seq for c in trial if c.bidder == leader and c.value >= price)
        for c in trial:
            if c.bidder == leader:
                continue
            if c.value > price or (c.value == price and c.seq < leader_since):
                return False
        return True

    def apply_event(self, event: EnglishEvent) -> None:
        if isinstance(event, BidderAdmitted):
            self.bidders.append(event.bidder)
        elif isinstance(event, BidAccepted):
            self.commitments.append(Commitment(event.bidder, event.amount, self.bid_count))
            if not event.proxy:
                self.highest_straight = max(self.highest_straight, event.amount)
            self.bid_count += 1
            self.price = event.price
            self.leader = event.leader
            self.close_at = event.close_at
            # a commitment below the price can never hold or block any later price
            self.commitments = [c for c in self.commitments if c.value >= self.price]
        else:
            self.closed = True
            self.sold = event.sold
        self.last_at = event.at

    @classmethod
    def from_events(
        cls, terms: EnglishTerms, events: Iterable[EnglishEvent]
    ) -> ReferenceEnglishBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> EnglishSnapshot:
        return EnglishSnapshot(
            terms=self.terms,
            bidders=list(self.bidders),
            price=self.price,
            leader=self.leader,
            leader_max=self.leader_max(),
            close_at=self.close_at,
            last_at=self.last_at,
            bid_count=self.bid_count,
            closed=self.closed,
            sold=self.sold,
        )

    @classmethod
    def restore(cls, snapshot: EnglishSnapshot) -> ReferenceEnglishBook:
        book = cls(snapshot.terms)
        book.bidders = list(snapshot.bidders)
        if snapshot.leader:
            book.commitments = [Commitment(snapshot.leader, snapshot.leader_max, -1)]
        book.price = snapshot.price
        book.leader = snapshot.leader
        book.close_at = snapshot.close_at
        book.last_at = snapshot.last_at
        book.bid_count = snapshot.bid_count
        book.closed = snapshot.closed
        book.sold = snapshot.sold
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())


def best_bidder(commitments: list[Commitment]) -> str:
    """Highest commitment wins; on equal amounts the one made first."""
    return min(commitments, key=lambda c: (-c.value, c.seq)).bidder
