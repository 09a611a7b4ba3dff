"""Reference sealed book: the state is re-derived from the event log on every query.

Slow and plain on purpose; the property suite checks the fast book against it.
"""

from __future__ import annotations

from collections.abc import Iterable

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


class ReferenceSealedBook:
    def __init__(self, terms: SealedTerms) -> None:
        problem = terms_problem(terms)
        if problem is not None:
            raise ValueError(problem)
        self.terms = terms
        self.log: list[SealedEvent] = []
        self.base: SealedSnapshot | None = None

    # -- state derived from the log ----------------------------------------------

    def bidders(self) -> list[str]:
        base = [] if self.base is None else list(self.base.bidders)
        return base + [e.bidder for e in self.log if isinstance(e, BidderAdmitted)]

    def proposals(self) -> list[ProposalState]:
        proposals = [] if self.base is None else list(self.base.proposals)
        for event in self.log:
            if isinstance(event, ProposalCommitted):
                proposals.append(ProposalState(event.bidder, event.commitment, False, 0, ""))
            if isinstance(event, ProposalRevealed):
                i = [p.bidder for p in proposals].index(event.bidder)
                proposals[i] = ProposalState(
                    event.bidder, proposals[i].commitment, True, event.price, event.documents
                )
        return proposals

    def find(self, bidder: str) -> ProposalState | None:
        return next((p for p in self.proposals() if p.bidder == bidder), None)

    def phase(self) -> SealedPhase:
        phase = SealedPhase.COLLECTING if self.base is None else self.base.phase
        for event in self.log:
            if isinstance(event, OpeningCancelled):
                phase = SealedPhase.CANCELLED
            if isinstance(event, ProposalsOpened):
                phase = SealedPhase.OPENED
            if isinstance(event, ProposalsRanked):
                phase = SealedPhase.RANKED
        return phase

    def ranking(self) -> ProposalsRanked | None:
        ranked = [e for e in self.log if isinstance(e, ProposalsRanked)]
        if ranked:
            return ranked[-1]
        if self.base is None or self.base.phase is not SealedPhase.RANKED:
            return None
        return ProposalsRanked(self.base.last_at, self.base.candidates, self.base.excluded)

    def last_at(self) -> int:
        if self.log:
            return self.log[-1].at
        return 0 if self.base is None else self.base.last_at

    def next_deadline(self) -> int | None:
        return self.terms.deadline if self.phase() == SealedPhase.COLLECTING else None

    def public_view(self) -> SealedPublicView:
        phase = self.phase()
        ranking = self.ranking()
        opened = []
        if phase != SealedPhase.COLLECTING:
            opened = [OpenedProposal(p.bidder, p.price) for p in self.proposals() if p.revealed]
        return SealedPublicView(
            phase=phase,
            deadline=self.terms.deadline,
            proposals=len(self.proposals()),
            opened=opened,
            candidates=[] if ranking is None else list(ranking.candidates),
        )

    # -- commands ----------------------------------------------------------------

    def apply(self, command: SealedCommand, now: int) -> list[SealedEvent] | Rejection:
        if not is_time(now):
            return reject(RejectCode.INVALID_TIME)
        if not isinstance(command, AdmitBidder | SubmitProposal | RevealProposal | Evaluate | Tick):
            return reject(RejectCode.INVALID_COMMAND)
        if now < self.last_at():
            return reject(RejectCode.STALE_TIME)
        due = self.due_events(now)
        self.log += due
        if isinstance(command, Tick):
            return due
        result = self.judge(command, now)
        if isinstance(result, RejectCode):
            del self.log[len(self.log) - len(due) :]
            return reject(result)
        self.log += result
        return due + result

    def tick(self, now: int) -> list[SealedEvent] | Rejection:
        return self.apply(Tick(), now)

    def due_events(self, now: int) -> list[SealedEvent]:
        if self.phase() != SealedPhase.COLLECTING or now < self.terms.deadline:
            return []
        count = len(self.proposals())
        if count >= self.terms.min_proposals:
            return [ProposalsOpened(now, count)]
        return [OpeningCancelled(now, count)]

    def judge(
        self, command: AdmitBidder | SubmitProposal | RevealProposal | Evaluate, now: int
    ) -> list[SealedEvent] | RejectCode:
        phase = self.phase()
        if isinstance(command, AdmitBidder | SubmitProposal):
            if phase != SealedPhase.COLLECTING:
                return RejectCode.AUCTION_CLOSED
            if isinstance(command, SubmitProposal) and now < self.terms.opens_at:
                return RejectCode.NOT_OPEN
            if not is_id(command.bidder):
                return RejectCode.INVALID_BIDDER
            if isinstance(command, AdmitBidder):
                if command.bidder in self.bidders():
                    return RejectCode.DUPLICATE_BIDDER
                return [BidderAdmitted(command.bidder, bidder_code(len(self.bidders())), now)]
            if command.bidder not in self.bidders():
                return RejectCode.UNKNOWN_BIDDER
            if not is_commitment(command.commitment):
                return RejectCode.INVALID_COMMITMENT
            if self.find(command.bidder) is not None:
                return RejectCode.DUPLICATE_PROPOSAL
            return [ProposalCommitted(command.bidder, command.commitment, now)]
        if phase != SealedPhase.OPENED:
            return RejectCode.WRONG_PHASE
        if isinstance(command, RevealProposal):
            return self.reveal(command, now)
        return self.evaluate(command, now)

    def reveal(self, command: RevealProposal, now: int) -> list[SealedEvent] | RejectCode:
        if not is_id(command.bidder):
            return RejectCode.INVALID_BIDDER
        proposal = self.find(command.bidder)
        if proposal is None:
            return RejectCode.UNKNOWN_PROPOSAL
        if proposal.revealed:
            return RejectCode.ALREADY_REVEALED
        if not is_amount(command.price):
            return RejectCode.INVALID_AMOUNT
        if not is_text(command.nonce):
            return RejectCode.INVALID_TEXT
        if type(command.documents) is not str or len(command.documents) > MAX_TEXT_LENGTH:
            return RejectCode.INVALID_TEXT
        if proposal.commitment != proposal_commitment(
            command.bidder, command.price, command.documents, command.nonce
        ):
            return RejectCode.COMMITMENT_MISMATCH
        return [ProposalRevealed(command.bidder, command.price, command.documents, now)]

    def evaluate(self, command: Evaluate, now: int) -> list[SealedEvent] | RejectCode:
        weighted = self.terms.evaluation == Evaluation.WEIGHTED
        weight = command.price_weight
        if type(weight) is not int or weight > FULL_SCORE:
            return RejectCode.INVALID_WEIGHT
        if weight < (MIN_PRICE_WEIGHT if weighted else FULL_SCORE):
            return RejectCode.INVALID_WEIGHT
        revealed = [p for p in self.proposals() if p.revealed]
        scores = command.technical_scores
        if not isinstance(scores, tuple | list):
            return RejectCode.INVALID_SCORES
        if not weighted and len(scores) > 0:
            return RejectCode.INVALID_SCORES
        if weighted and not valid_scores(list(scores), [p.bidder for p in revealed]):
            return RejectCode.INVALID_SCORES
        technical = {s.bidder: s.score for s in scores}
        eligible = [p for p in revealed if self.within_limit(p.price)]
        lowest = self.terms.direction == Direction.LOWEST_PRICE_WINS
        best = 0
        if eligible:
            best = min(p.price for p in eligible) if lowest else max(p.price for p in eligible)
        scored = [
            (total_score(price_score(self.terms.direction, p.price, best), technical.get(p.bidder, 0), weight), i, p)
            for i, p in enumerate(eligible)
        ]  # fmt: skip

        def better(a: tuple[int, int, ProposalState], b: tuple[int, int, ProposalState]) -> bool:
            if a[0] != b[0]:
                return a[0] > b[0]
            if a[2].price != b[2].price:
                return a[2].price < b[2].price if lowest else a[2].price > b[2].price
            return a[1] < b[1]

        candidates: list[Candidate] = []
        remaining = list(scored)
        while remaining and len(candidates) < self.terms.max_candidates:
            top = remaining[0]
            for entry in remaining[1:]:
                if better(entry, top):
                    top = entry
            remaining.remove(top)
            candidates.append(Candidate(len(candidates) + 1, top[2].bidder, top[2].price, top[0]))
        names = [p.bidder for p in eligible]
        excluded = [p.bidder for p in self.proposals() if p.bidder not in names]
        return [ProposalsRanked(now, candidates, excluded)]

    def within_limit(self, price: int) -> bool:
        limit = self.terms.price_limit
        if limit is None:
            return True
        if self.terms.direction == Direction.LOWEST_PRICE_WINS:
            return price <= limit
        return price >= limit

    # -- persistence -----------------------------------------------------------

    def apply_event(self, event: SealedEvent) -> None:
        self.log.append(event)

    @classmethod
    def from_events(cls, terms: SealedTerms, events: Iterable[SealedEvent]) -> ReferenceSealedBook:
        book = cls(terms)
        for event in events:
            book.apply_event(event)
        return book

    def snapshot(self) -> SealedSnapshot:
        ranking = self.ranking()
        return SealedSnapshot(
            terms=self.terms,
            bidders=self.bidders(),
            phase=self.phase(),
            proposals=self.proposals(),
            candidates=[] if ranking is None else list(ranking.candidates),
            excluded=[] if ranking is None else list(ranking.excluded),
            last_at=self.last_at(),
        )

    @classmethod
    def restore(cls, snapshot: SealedSnapshot) -> ReferenceSealedBook:
        book = cls(snapshot.terms)
        book.base = snapshot
        return book

    def state_hash(self) -> str:
        return digest(self.snapshot())


def valid_scores(scores: list[object], revealed: list[str]) -> bool:
    """Exactly one score in 0..10000 for each revealed proposal, and nothing else."""
    named: list[str] = []
    for entry in scores:
        if not isinstance(entry, TechnicalScore) or type(entry.bidder) is not str:
            return False
        if type(entry.score) is not int or entry.score < 0 or entry.score > FULL_SCORE:
            return False
        named.append(entry.bidder)
    return sorted(named) == sorted(revealed)
