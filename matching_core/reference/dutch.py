"""Reference Dutch auction: the price walked down interval by interval, phases derived."""

from __future__ import annotations

from collections.abc import Iterable

from matching_core.codes import RejectCode, Rejection, is_amount, is_id, is_time, reject
from matching_core.common import (
    AdmitBidder,
    AuctionClosed,
    BidderAdmitted,
    Tick,
    bidder_code,
    digest,
)
from matching_core.dutch_types import (
    AcceptPrice,
    DeclineMatch,
    DutchCommand,
    DutchEvent,
    DutchPhase,
    DutchSnapshot,
    DutchTerms,
    MatchBestBid,
    MatchOffered,
    PriceAccepted,
    SealedBid,
    SealedBidPlaced,
    SubmitSealedBid,
    terms_problem,
)

COMMANDS = (AdmitBidder, AcceptPrice, SubmitSealedBid, MatchBestBid, DeclineMatch, Tick)


class ReferenceDutchBook:
    def __init__(self, terms: DutchTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self.terms = terms
        self.bidders: list[str] = []
        self.accepter = ""
        self.accepted_price = 0
        self.sealed_until = 0
        self.sealed_bids: list[SealedBid] = []
        self.match_until = 0
        self.last_at = 0
        self.outcome: AuctionClosed | None = None

    def ends_at(self) -> int:
        """One interval after the price first reaches the floor."""
        price, at = self.terms.start_price, self.terms.opens_at + self.terms.interval
        while price > self.terms.floor_price:
            price -= self.terms.step
            at += self.terms.interval
        return at

    def price_at(self, now: int) -> int:
        price, at = self.terms.start_price, self.terms.opens_at + self.terms.interval
        while at <= now and price > self.terms.floor_price:
            price = max(self.terms.floor_price, price - self.terms.step)
            at += self.terms.interval
        return price

    def phase(self) -> DutchPhase:
        if self.outcome is not None:
            return DutchPhase.CLOSED
        if self.match_until:
            return DutchPhase.MATCHING
        if self.accepter:
            return DutchPhase.SEALED
        return DutchPhase.FALLING

    def next_deadline(self) -> int | None:
        return {
            DutchPhase.FALLING: self.ends_at(),
            DutchPhase.SEALED: self.sealed_until,
            DutchPhase.MATCHING: self.match_until,
            DutchPhase.CLOSED: None,
        }[self.phase()]

    def is_over(self, now: int) -> bool:
        deadline = self.next_deadline()
        return deadline is None or now >= deadline

    def best_sealed(self) -> SealedBid:
        ranked = sorted(enumerate(self.sealed_bids), key=lambda pair: (-pair[1].amount, pair[0]))
        return ranked[0][1]

    def apply(self, command: DutchCommand, now: int) -> list[DutchEvent] | Rejection:
        """Ticks a copy until nothing more is due, then judges the command on that copy."""
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if not isinstance(command, COMMANDS):
            return reject(RejectCode.INVALID_COMMAND)
        if now < self.last_at:
            return reject(RejectCode.STALE_TIME)
        trial = ReferenceDutchBook.restore(self.snapshot())
        events: list[DutchEvent] = []
        while due := trial.tick_events(now):
            for event in due:
                trial.apply_event(event)
            events += due
        if isinstance(command, AdmitBidder):
            decided = trial.admit_events(command.bidder, now)
        elif not isinstance(command, Tick):
            decided = trial.bidder_events(command, now)
        else:
            decided = []
        if isinstance(decided, RejectCode):
            return reject(decided)
        events += decided
        for event in events:
            self.apply_event(event)
        return events

    def tick(self, now: int) -> list[DutchEvent] | Rejection:
        return self.apply(Tick(), now)

    def admit_events(self, bidder: str, now: int) -> list[DutchEvent] | RejectCode:
        if self.is_over(now):
            return RejectCode.AUCTION_CLOSED
        if not is_id(bidder):
            return RejectCode.INVALID_BIDDER
        if bidder in self.bidders:
            return RejectCode.DUPLICATE_BIDDER
        return [BidderAdmitted(bidder, bidder_code(len(self.bidders)), now)]

    def tick_events(self, now: int) -> list[DutchEvent]:
        phase = self.phase()
        if phase is DutchPhase.CLOSED or not self.is_over(now):
            return []
        if phase is DutchPhase.FALLING:
            return [AuctionClosed(now, False, "", 0)]
        if not self.sealed_bids:
            return [AuctionClosed(now, True, self.accepter, self.accepted_price)]
        best = self.best_sealed()
        if phase is DutchPhase.SEALED:
            match_until = self.sealed_until + self.terms.match_window
            return [MatchOffered(now, best.bidder, best.amount, match_until)]
        return [AuctionClosed(now, True, best.bidder, best.amount)]

    def bidder_events(
        self, command: AcceptPrice | SubmitSealedBid | MatchBestBid | DeclineMatch, now: int
    ) -> list[DutchEvent] | RejectCode:
        if self.is_over(now):
            return RejectCode.AUCTION_CLOSED
        if now < self.terms.opens_at:
            return RejectCode.NOT_OPEN
        if isinstance(command, SubmitSealedBid) and not is_amount(command.amount):
            return RejectCode.INVALID_AMOUNT
        if not is_id(command.bidder):
            return RejectCode.INVALID_BIDDER
        if command.bidder not in self.bidders:
            return RejectCode.UNKNOWN_BIDDER
        phase = self.phase()
        if isinstance(command, AcceptPrice):
            if phase is not DutchPhase.FALLING:
                return RejectCode.WRONG_PHASE
            price = self.price_at(now)
            if not self.terms.insider:
                return [
                    PriceAccepted(command.bidder, price, now, 0),
                    AuctionClosed(now, True, command.bidder, price),
                ]
            return [PriceAccepted(command.bidder, price, now, now + self.terms.sealed_window)]
        if isinstance(command, SubmitSealedBid):
            if phase is not DutchPhase.SEALED:
                return RejectCode.WRONG_PHASE
            if command.bidder == self.accepter:
                return RejectCode.NOT_PERMITTED
            if any(bid.bidder == command.bidder for bid in self.sealed_bids):
                return RejectCode.DUPLICATE_BID
            if command.amount <= self.accepted_price:
                return RejectCode.NOT_ABOVE_ACCEPTED_PRICE
            return [SealedBidPlaced(command.bidder, command.amount, now)]
        if phase is not DutchPhase.MATCHING:
            return RejectCode.WRONG_PHASE
        if command.bidder != self.accepter:
            return RejectCode.NOT_PERMITTED
        best = self.best_sealed()
        winner = self.accepter if isinstance(command, MatchBestBid) else best.bidder
        return [AuctionClosed(now, True, winner, best.amount)]

    def apply_event(self, event: DutchEvent) -> None:
        if isinstance(event, BidderAdmitted):
            self.bidders.append(event.bidder)
        elif isinstance(event, PriceAccepted):
            self.accepter = event.bidder
            self.accepted_price = event.price
            self.sealed_until = event.sealed_until
        elif isinstance(event, SealedBidPlaced):
            self.sealed_bids.append(SealedBid(event.bidder, event.amount))
        elif isinstance(event, MatchOffered):
            self.match_until = event.match_until
        else:
            self.outcome = event
        self.last_at = event.at

    @classmethod
    def from_events(cls, terms: DutchTerms, events: Iterable[DutchEvent]) -> ReferenceDutchBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> DutchSnapshot:
        outcome = self.outcome or AuctionClosed(0, False, "", 0)
        return DutchSnapshot(
            terms=self.terms,
            bidders=list(self.bidders),
            phase=self.phase(),
            accepter=self.accepter,
            accepted_price=self.accepted_price,
            sealed_until=self.sealed_until,
            sealed_bids=list(self.sealed_bids),
            match_until=self.match_until,
            last_at=self.last_at,
            sold=outcome.sold,
            winner=outcome.winner,
            final_price=outcome.price,
        )

    @classmethod
    def restore(cls, snapshot: DutchSnapshot) -> ReferenceDutchBook:
        book = cls(snapshot.terms)
        book.bidders = list(snapshot.bidders)
        book.accepter = snapshot.accepter
        book.accepted_price = snapshot.accepted_price
        book.sealed_until = snapshot.sealed_until
        book.sealed_bids = list(snapshot.sealed_bids)
        book.match_until = snapshot.match_until
        book.last_at = snapshot.last_at
        if snapshot.phase == DutchPhase.CLOSED:
            book.outcome = AuctionClosed(
                snapshot.last_at, snapshot.sold, snapshot.winner, snapshot.final_price
            )
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())
