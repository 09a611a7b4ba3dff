"""The sealed book (一次性报价 / 招标): commitments before the deadline, opening, evaluation.

At the deadline the book opens, or cancels the opening when fewer than `min_proposals`
proposals arrived. After the opening each proposal is revealed against its commitment;
`Evaluate` then ranks the revealed proposals within the price limit, best first, up to
`max_candidates`: by total score (price part weighted with the technical score), then by
the better price, then by the earlier submission.

As in the Dutch book, a command first takes the transition already due at `now` (the
opening or its cancellation) and is judged in the resulting phase.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from matching_core.codes import (
    MAX_TEXT_LENGTH,
    RejectCode,
    Rejection,
    is_amount,
    is_id,
    is_text,
    is_time,
    reject,
)
from matching_core.common import AdmitBidder, BidderAdmitted, Tick, bidder_code, digest
from matching_core.sealed_types import (
    FULL_SCORE,
    MIN_PRICE_WEIGHT,
    Candidate,
    Direction,
    Evaluate,
    Evaluation,
    OpenedProposal,
    OpeningCancelled,
    ProposalCommitted,
    ProposalRevealed,
    ProposalsOpened,
    ProposalsRanked,
    ProposalState,
    RevealProposal,
    SealedCommand,
    SealedEvent,
    SealedPhase,
    SealedPublicView,
    SealedSnapshot,
    SealedTerms,
    SubmitProposal,
    TechnicalScore,
    is_commitment,
    price_score,
    proposal_commitment,
    terms_problem,
    total_score,
)

_COMMANDS = (AdmitBidder, SubmitProposal, RevealProposal, Evaluate, Tick)
_Decided: TypeAlias = list[SealedEvent] | RejectCode


class SealedBook:
    __slots__ = (
        "_terms",
        "_bidders",
        "_phase",
        "_proposals",
        "_candidates",
        "_excluded",
        "_last_at",
    )

    def __init__(self, terms: SealedTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self._terms = terms
        self._bidders: dict[str, str] = {}
        self._phase = SealedPhase.COLLECTING
        self._proposals: dict[str, ProposalState] = {}
        self._candidates: list[Candidate] = []
        self._excluded: list[str] = []
        self._last_at = 0

    # -- queries ---------------------------------------------------------------

    @property
    def terms(self) -> SealedTerms:
        return self._terms

    @property
    def phase(self) -> SealedPhase:
        return self._phase

    @property
    def candidates(self) -> list[Candidate]:
        return list(self._candidates)

    def code_of(self, bidder: str) -> str | None:
        return self._bidders.get(bidder)

    def receipt(self, bidder: str) -> str | None:
        """The commitment the bidder was given at submission."""
        proposal = self._proposals.get(bidder)
        return None if proposal is None else proposal.commitment

    def next_deadline(self) -> int | None:
        return self._terms.deadline if self._phase is SealedPhase.COLLECTING else None

    def public_view(self) -> SealedPublicView:
        opened = []
        if self._phase is not SealedPhase.COLLECTING:
            opened = [
                OpenedProposal(p.bidder, p.price) for p in self._proposals.values() if p.revealed
            ]
        return SealedPublicView(
            phase=self._phase,
            deadline=self._terms.deadline,
            proposals=len(self._proposals),
            opened=opened,
            candidates=list(self._candidates),
        )

    # -- commands --------------------------------------------------------------

    def apply(self, command: SealedCommand, now: int) -> list[SealedEvent] | Rejection:
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if not isinstance(command, _COMMANDS):
            return reject(RejectCode.INVALID_COMMAND)
        if now < self._last_at:
            return reject(RejectCode.STALE_TIME)
        events: list[SealedEvent] = []
        phase = self._phase
        if phase is SealedPhase.COLLECTING and now >= self._terms.deadline:
            count = len(self._proposals)
            if count < self._terms.min_proposals:
                events.append(OpeningCancelled(now, count))
                phase = SealedPhase.CANCELLED
            else:
                events.append(ProposalsOpened(now, count))
                phase = SealedPhase.OPENED
        decided: _Decided = []
        if isinstance(command, AdmitBidder):
            decided = self._admit(command, now, phase)
        elif isinstance(command, SubmitProposal):
            decided = self._submit(command, now, phase)
        elif isinstance(command, RevealProposal):
            decided = self._reveal(command, now, phase)
        elif isinstance(command, Evaluate):
            decided = self._evaluate(command, now, phase)
        if isinstance(decided, RejectCode):
            return reject(decided)
        events += decided
        for event in events:
            self.apply_event(event)
        return events

    def tick(self, now: int) -> list[SealedEvent] | Rejection:
        return self.apply(Tick(), now)

    def _admit(self, command: AdmitBidder, now: int, phase: SealedPhase) -> _Decided:
        if phase is not SealedPhase.COLLECTING:
            return RejectCode.AUCTION_CLOSED
        if not is_id(command.bidder):
            return RejectCode.INVALID_BIDDER
        if command.bidder in self._bidders:
            return RejectCode.DUPLICATE_BIDDER
        return [BidderAdmitted(command.bidder, bidder_code(len(self._bidders)), now)]

    def _submit(self, command: SubmitProposal, now: int, phase: SealedPhase) -> _Decided:
        if phase is not SealedPhase.COLLECTING:
            return RejectCode.AUCTION_CLOSED
        if now < self._terms.opens_at:
            return RejectCode.NOT_OPEN
        if not is_id(command.bidder):
            return RejectCode.INVALID_BIDDER
        if command.bidder not in self._bidders:
            return RejectCode.UNKNOWN_BIDDER
        if not is_commitment(command.commitment):
            return RejectCode.INVALID_COMMITMENT
        if command.bidder in self._proposals:
            return RejectCode.DUPLICATE_PROPOSAL
        return [ProposalCommitted(command.bidder, command.commitment, now)]

    def _reveal(self, command: RevealProposal, now: int, phase: SealedPhase) -> _Decided:
        if phase is not SealedPhase.OPENED:
            return RejectCode.WRONG_PHASE
        if not is_id(command.bidder):
            return RejectCode.INVALID_BIDDER
        proposal = self._proposals.get(command.bidder)
        if proposal is None:
            return RejectCode.UNKNOWN_PROPOSAL
        if proposal.revealed:
            return RejectCode.ALREADY_REVEALED
        if not is_amount(command.price):
            return RejectCode.INVALID_AMOUNT
        documents = command.documents
        if not (is_text(command.nonce) and type(documents) is str):
            return RejectCode.INVALID_TEXT
        if len(documents) > MAX_TEXT_LENGTH:
            return RejectCode.INVALID_TEXT
        expected = proposal_commitment(command.bidder, command.price, documents, command.nonce)
        if expected != proposal.commitment:
            return RejectCode.COMMITMENT_MISMATCH
        return [ProposalRevealed(command.bidder, command.price, documents, now)]

    def _evaluate(self, command: Evaluate, now: int, phase: SealedPhase) -> _Decided:
        if phase is not SealedPhase.OPENED:
            return RejectCode.WRONG_PHASE
        weight = command.price_weight
        weighted = self._terms.evaluation is Evaluation.WEIGHTED
        lowest_weight = MIN_PRICE_WEIGHT if weighted else FULL_SCORE
        if type(weight) is not int or not lowest_weight <= weight <= FULL_SCORE:
            return RejectCode.INVALID_WEIGHT
        revealed = [p for p in self._proposals.values() if p.revealed]
        technical = _technical_scores(command.technical_scores, revealed, weighted)
        if technical is None:
            return RejectCode.INVALID_SCORES
        limit = self._terms.price_limit
        lowest = self._terms.direction is Direction.LOWEST_PRICE_WINS
        eligible = [
            p for p in revealed
            if limit is None or (p.price <= limit if lowest else p.price >= limit)
        ]  # fmt: skip
        ranked: list[tuple[int, int, int, ProposalState]] = []
        if eligible:
            prices = [p.price for p in eligible]
            best = min(prices) if lowest else max(prices)
            for order, p in enumerate(eligible):
                part = price_score(self._terms.direction, p.price, best)
                score = total_score(part, technical.get(p.bidder, 0), weight)
                ranked.append((-score, p.price if lowest else -p.price, order, p))
        ranked.sort(key=lambda entry: entry[:3])
        candidates = [
            Candidate(rank + 1, p.bidder, p.price, -neg_score)
            for rank, (neg_score, _, _, p) in enumerate(ranked[: self._terms.max_candidates])
        ]
        chosen = {p.bidder for p in eligible}
        excluded = [bidder for bidder in self._proposals if bidder not in chosen]
        return [ProposalsRanked(now, candidates, excluded)]

    # -- persistence -----------------------------------------------------------

    def apply_event(self, event: SealedEvent) -> None:
        """Replay one event produced by `apply` (of this or an identical book)."""
        if isinstance(event, BidderAdmitted):
            self._bidders[event.bidder] = event.code
        elif isinstance(event, ProposalCommitted):
            self._proposals[event.bidder] = ProposalState(
                event.bidder, event.commitment, False, 0, ""
            )
        elif isinstance(event, OpeningCancelled):
            self._phase = SealedPhase.CANCELLED
        elif isinstance(event, ProposalsOpened):
            self._phase = SealedPhase.OPENED
        elif isinstance(event, ProposalRevealed):
            sealed = self._proposals[event.bidder]
            self._proposals[event.bidder] = ProposalState(
                event.bidder, sealed.commitment, True, event.price, event.documents
            )
        else:
            self._phase = SealedPhase.RANKED
            self._candidates = list(event.candidates)
            self._excluded = list(event.excluded)
        self._last_at = event.at

    @classmethod
    def from_events(cls, terms: SealedTerms, events: Iterable[SealedEvent]) -> SealedBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> SealedSnapshot:
        return SealedSnapshot(
            terms=self._terms,
            bidders=list(self._bidders),
            phase=self._phase,
            proposals=list(self._proposals.values()),
            candidates=list(self._candidates),
            excluded=list(self._excluded),
            last_at=self._last_at,
        )

    @classmethod
    def restore(cls, snapshot: SealedSnapshot) -> SealedBook:
        book = cls(snapshot.terms)
        book._bidders = {bidder: bidder_code(i) for i, bidder in enumerate(snapshot.bidders)}
        book._phase = SealedPhase(snapshot.phase)
        book._proposals = {p.bidder: p for p in snapshot.proposals}
        book._candidates = list(snapshot.candidates)
        book._excluded = list(snapshot.excluded)
        book._last_at = snapshot.last_at
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())


def _technical_scores(
    scores: object, revealed: list[ProposalState], weighted: bool
) -> dict[str, int] | None:
    """bidder -> score, or None unless the scores cover each revealed proposal exactly once."""
    if not isinstance(scores, tuple | list):
        return None
    if not weighted:
        return {} if not scores else None
    table: dict[str, int] = {}
    for entry in scores:
        if not isinstance(entry, TechnicalScore) or type(entry.bidder) is not str:
            return None
        if type(entry.score) is not int or not 0 <= entry.score <= FULL_SCORE:
            return None
        table[entry.bidder] = entry.score
    if len(table) != len(scores) or set(table) != {p.bidder for p in revealed}:
        return None
    return table
