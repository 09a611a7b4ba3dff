"""The Dutch auction book (降价拍卖): falling price, first accept wins; optional insider round.

Time drives the phases, so every command first takes the transitions already due at `now`
(the same events a timer `Tick` would have produced) and is then judged in the phase that
results; a rejected command changes nothing, due transitions included.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

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
    falling_ends_at,
    terms_problem,
)

_COMMANDS = (AdmitBidder, AcceptPrice, SubmitSealedBid, MatchBestBid, DeclineMatch, Tick)
_BidderCommand: TypeAlias = AcceptPrice | SubmitSealedBid | MatchBestBid | DeclineMatch
_PHASE_OF = {
    AcceptPrice: DutchPhase.FALLING,
    SubmitSealedBid: DutchPhase.SEALED,
    MatchBestBid: DutchPhase.MATCHING,
    DeclineMatch: DutchPhase.MATCHING,
}


class DutchBook:
    __slots__ = (
        "_terms", "_ends_at", "_bidders", "_phase", "_accepter", "_accepted_price",
        "_sealed_until", "_sealed", "_match_until", "_last_at", "_sold", "_winner",
        "_final_price",
    )  # fmt: skip

    def __init__(self, terms: DutchTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self._terms = terms
        self._ends_at = falling_ends_at(terms)
        self._bidders: dict[str, str] = {}
        self._phase = DutchPhase.FALLING
        self._accepter = ""
        self._accepted_price = 0
        self._sealed_until = 0
        self._sealed: dict[str, int] = {}
        self._match_until = 0
        self._last_at = 0
        self._sold = False
        self._winner = ""
        self._final_price = 0

    # -- queries ---------------------------------------------------------------

    @property
    def terms(self) -> DutchTerms:
        return self._terms

    @property
    def phase(self) -> DutchPhase:
        return self._phase

    def code_of(self, bidder: str) -> str | None:
        return self._bidders.get(bidder)

    def price_at(self, now: int) -> int:
        """The falling price at `now` (the start price before opening)."""
        terms = self._terms
        if now < terms.opens_at:
            return terms.start_price
        dropped = (now - terms.opens_at) // terms.interval * terms.step
        return max(terms.floor_price, terms.start_price - dropped)

    def next_deadline(self) -> int | None:
        if self._phase is DutchPhase.FALLING:
            return self._ends_at
        if self._phase is DutchPhase.SEALED:
            return self._sealed_until
        if self._phase is DutchPhase.MATCHING:
            return self._match_until
        return None

    # -- commands --------------------------------------------------------------

    def apply(self, command: DutchCommand, now: int) -> list[DutchEvent] | Rejection:
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if not isinstance(command, _COMMANDS):
            return reject(RejectCode.INVALID_COMMAND)
        if now < self._last_at:
            return reject(RejectCode.STALE_TIME)
        events = self._due(now)
        if not isinstance(command, Tick):
            phase = self._phase
            if events:
                last = events[-1]
                phase = (
                    DutchPhase.CLOSED if isinstance(last, AuctionClosed) else DutchPhase.MATCHING
                )
            decided = self._decide(command, now, phase)
            if isinstance(decided, RejectCode):
                return reject(decided)
            events += decided
        for event in events:
            self.apply_event(event)
        return events

    def tick(self, now: int) -> list[DutchEvent] | Rejection:
        return self.apply(Tick(), now)

    def _best_sealed(self) -> tuple[str, int]:
        best_bidder, best_amount = "", 0
        for bidder, amount in self._sealed.items():  # insertion order: the earlier wins ties
            if amount > best_amount:
                best_bidder, best_amount = bidder, amount
        return best_bidder, best_amount

    def _due(self, now: int) -> list[DutchEvent]:
        """Transitions whose deadline has passed by `now`, not yet applied."""
        phase = self._phase
        if phase is DutchPhase.FALLING and now >= self._ends_at:
            return [AuctionClosed(now, False, "", 0)]
        if phase is DutchPhase.SEALED and now >= self._sealed_until:
            if not self._sealed:
                return [AuctionClosed(now, True, self._accepter, self._accepted_price)]
            best_bidder, best_amount = self._best_sealed()
            match_until = self._sealed_until + self._terms.match_window
            offer = MatchOffered(now, best_bidder, best_amount, match_until)
            if now < match_until:
                return [offer]
            return [offer, AuctionClosed(now, True, best_bidder, best_amount)]
        if phase is DutchPhase.MATCHING and now >= self._match_until:
            best_bidder, best_amount = self._best_sealed()
            return [AuctionClosed(now, True, best_bidder, best_amount)]
        return []

    def _decide(
        self, command: AdmitBidder | _BidderCommand, now: int, phase: DutchPhase
    ) -> list[DutchEvent] | RejectCode:
        if phase is DutchPhase.CLOSED:
            return RejectCode.AUCTION_CLOSED
        if isinstance(command, AdmitBidder):
            if not is_id(command.bidder):
                return RejectCode.INVALID_BIDDER
            if command.bidder in self._bidders:
                return RejectCode.DUPLICATE_BIDDER
            return [BidderAdmitted(command.bidder, bidder_code(len(self._bidders)), now)]
        if now < self._terms.opens_at:
            return RejectCode.NOT_OPEN
        if isinstance(command, SubmitSealedBid) and not is_amount(command.amount):
            return RejectCode.INVALID_AMOUNT
        bidder = command.bidder
        if not is_id(bidder):
            return RejectCode.INVALID_BIDDER
        if bidder not in self._bidders:
            return RejectCode.UNKNOWN_BIDDER
        if phase is not _PHASE_OF[type(command)]:
            return RejectCode.WRONG_PHASE
        if isinstance(command, AcceptPrice):
            price = self.price_at(now)
            if self._terms.insider:
                return [PriceAccepted(bidder, price, now, now + self._terms.sealed_window)]
            return [PriceAccepted(bidder, price, now, 0), AuctionClosed(now, True, bidder, price)]
        if isinstance(command, SubmitSealedBid):
            if bidder == self._accepter:
                return RejectCode.NOT_PERMITTED
            if bidder in self._sealed:
                return RejectCode.DUPLICATE_BID
            if command.amount <= self._accepted_price:
                return RejectCode.NOT_ABOVE_ACCEPTED_PRICE
            return [SealedBidPlaced(bidder, command.amount, now)]
        if bidder != self._accepter:
            return RejectCode.NOT_PERMITTED
        best_bidder, best_amount = self._best_sealed()
        winner = bidder if isinstance(command, MatchBestBid) else best_bidder
        return [AuctionClosed(now, True, winner, best_amount)]

    # -- persistence -----------------------------------------------------------

    def apply_event(self, event: DutchEvent) -> None:
        """Replay one event produced by `apply` (of this or an identical book)."""
        if isinstance(event, BidderAdmitted):
            self._bidders[event.bidder] = event.code
        elif isinstance(event, PriceAccepted):
            self._phase = DutchPhase.SEALED
            self._accepter = event.bidder
            self._accepted_price = event.price
            self._sealed_until = event.sealed_until
        elif isinstance(event, SealedBidPlaced):
            self._sealed[event.bidder] = event.amount
        elif isinstance(event, MatchOffered):
            self._phase = DutchPhase.MATCHING
            self._match_until = event.match_until
        else:
            self._phase = DutchPhase.CLOSED
            self._sold = event.sold
            self._winner = event.winner
            self._final_price = event.price
        self._last_at = event.at

    @classmethod
    def from_events(cls, terms: DutchTerms, events: Iterable[DutchEvent]) -> DutchBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> DutchSnapshot:
        return DutchSnapshot(
            terms=self._terms,
            bidders=list(self._bidders),
            phase=self._phase,
            accepter=self._accepter,
            accepted_price=self._accepted_price,
            sealed_until=self._sealed_until,
            sealed_bids=[SealedBid(bidder, amount) for bidder, amount in self._sealed.items()],
            match_until=self._match_until,
            last_at=self._last_at,
            sold=self._sold,
            winner=self._winner,
            final_price=self._final_price,
        )

    @classmethod
    def restore(cls, snapshot: DutchSnapshot) -> DutchBook:
        book = cls(snapshot.terms)
        book._bidders = {bidder: bidder_code(i) for i, bidder in enumerate(snapshot.bidders)}
        book._phase = DutchPhase(snapshot.phase)
        book._accepter = snapshot.accepter
        book._accepted_price = snapshot.accepted_price
        book._sealed_until = snapshot.sealed_until
        book._sealed = {bid.bidder: bid.amount for bid in snapshot.sealed_bids}
        book._match_until = snapshot.match_until
        book._last_at = snapshot.last_at
        book._sold = snapshot.sold
        book._winner = snapshot.winner
        book._final_price = snapshot.final_price
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())
