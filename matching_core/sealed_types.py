"""Terms, commands, events and snapshot of the sealed book: one-time quotes and tenders (招标).

A proposal enters the book only as a commitment (a sha256 of bidder, price, documents
digest and a secret nonce); its content is revealed to the book only after the public
opening, so nothing readable exists in the book, its events or its snapshot before then.
"""

from __future__ import annotations

import hashlib
from enum import IntEnum
from typing import TypeAlias

import msgspec

from matching_core.codes import is_amount, is_time
from matching_core.common import AdmitBidder, BidderAdmitted, Tick

FULL_SCORE = 10_000
"""Scores and weights are basis points: 10000 is 100 points or 100%."""
MIN_PRICE_WEIGHT = 1_000
"""Comprehensive scoring must give price a weight of at least 10%."""
MAX_CANDIDATES = 3
COMMITMENT_DOMAIN = "matching_core/sealed-proposal/v1"


class Direction(IntEnum):
    LOWEST_PRICE_WINS = 1
    """A tender or procurement: the buyer wants the lowest price."""
    HIGHEST_PRICE_WINS = 2
    """A one-time sealed quote for a listing: the seller wants the highest price."""


class Evaluation(IntEnum):
    PRICE = 1
    """Lowest (or highest) evaluated price; the price weight is 100%."""
    WEIGHTED = 2
    """Comprehensive scoring: a price weight plus technical scores from the committee."""


class SealedPhase(IntEnum):
    COLLECTING = 1
    OPENED = 2
    RANKED = 3
    CANCELLED = 4


class SealedTerms(msgspec.Struct, frozen=True):
    """Proposals are accepted from `opens_at` until `deadline`, when the opening happens.

    `price_limit`, if set, is the most a tender pays or the least a sale accepts; a
    proposal beyond it is excluded at evaluation.
    """

    opens_at: int
    deadline: int
    direction: Direction = Direction.LOWEST_PRICE_WINS
    evaluation: Evaluation = Evaluation.PRICE
    min_proposals: int = 3
    max_candidates: int = MAX_CANDIDATES
    price_limit: int | None = None


def terms_problem(terms: SealedTerms) -> str | None:
    if not (is_time(terms.opens_at) and is_time(terms.deadline)):
        return "times must be non-negative microseconds"
    if terms.deadline <= terms.opens_at:
        return "the deadline must be after the opening of submissions"
    if not isinstance(terms.direction, Direction) or not isinstance(terms.evaluation, Evaluation):
        return "unknown direction or evaluation method"
    if type(terms.min_proposals) is not int or not 1 <= terms.min_proposals <= 1_000:
        return "the minimum number of proposals must be 1..1000"
    if type(terms.max_candidates) is not int or not 1 <= terms.max_candidates <= MAX_CANDIDATES:
        return "up to 3 ranked candidates"
    if terms.price_limit is not None and not is_amount(terms.price_limit):
        return "the price limit must be a positive amount"
    return None


def proposal_commitment(bidder: str, price: int, documents: str, nonce: str) -> str:
    """The receipt a bidder gets at submission: sha256 over a canonical msgpack array."""
    payload = msgspec.msgpack.encode((COMMITMENT_DOMAIN, bidder, price, documents, nonce))
    return hashlib.sha256(payload).hexdigest()


class TechnicalScore(msgspec.Struct, frozen=True):
    bidder: str
    score: int


class SubmitProposal(msgspec.Struct, frozen=True, tag=True):
    """A sealed proposal: only its commitment (64 lowercase hex characters)."""

    bidder: str
    commitment: str


class RevealProposal(msgspec.Struct, frozen=True, tag=True):
    """After the opening: the proposal's content, checked against its commitment.

    `documents` is a digest of the technical documents ("" when there are none).
    """

    bidder: str
    price: int
    documents: str
    nonce: str


class Evaluate(msgspec.Struct, frozen=True, tag=True):
    """The committee's evaluation; with `Evaluation.PRICE` no scores and a 100% weight."""

    price_weight: int = FULL_SCORE
    technical_scores: tuple[TechnicalScore, ...] = ()


class ProposalCommitted(msgspec.Struct, frozen=True, tag=True):
    bidder: str
    commitment: str
    at: int


class OpeningCancelled(msgspec.Struct, frozen=True, tag=True):
    """Fewer proposals than the minimum at the deadline: no opening; re-tender."""

    at: int
    proposals: int


class ProposalsOpened(msgspec.Struct, frozen=True, tag=True):
    at: int
    proposals: int


class ProposalRevealed(msgspec.Struct, frozen=True, tag=True):
    bidder: str
    price: int
    documents: str
    at: int


class Candidate(msgspec.Struct, frozen=True):
    """`score` is in basis points of full marks (price and technical parts weighted)."""

    rank: int
    bidder: str
    price: int
    score: int


class ProposalsRanked(msgspec.Struct, frozen=True, tag=True):
    """Up to `max_candidates` ranked; `excluded`: not revealed or beyond the price limit."""

    at: int
    candidates: list[Candidate]
    excluded: list[str]


SealedCommand: TypeAlias = AdmitBidder | SubmitProposal | RevealProposal | Evaluate | Tick
SealedEvent: TypeAlias = (
    BidderAdmitted
    | ProposalCommitted
    | OpeningCancelled
    | ProposalsOpened
    | ProposalRevealed
    | ProposalsRanked
)


class ProposalState(msgspec.Struct, frozen=True):
    """`price` is 0 and `documents` "" until revealed."""

    bidder: str
    commitment: str
    revealed: bool
    price: int
    documents: str


class SealedSnapshot(msgspec.Struct, frozen=True):
    """The whole state; proposals in submission order (the earlier wins exact ties)."""

    terms: SealedTerms
    bidders: list[str]
    phase: SealedPhase
    proposals: list[ProposalState]
    candidates: list[Candidate]
    excluded: list[str]
    last_at: int


class OpenedProposal(msgspec.Struct, frozen=True):
    bidder: str
    price: int


class SealedPublicView(msgspec.Struct, frozen=True):
    """What may be shown to anyone: before the opening only the number of proposals."""

    phase: SealedPhase
    deadline: int
    proposals: int
    opened: list[OpenedProposal]
    candidates: list[Candidate]


def price_score(direction: Direction, price: int, best: int) -> int:
    """Price part of the score: full marks for the best price, proportionally less otherwise."""
    if direction is Direction.LOWEST_PRICE_WINS:
        return FULL_SCORE * best // price
    return FULL_SCORE * price // best


def total_score(price_part: int, technical: int, price_weight: int) -> int:
    return (price_weight * price_part + (FULL_SCORE - price_weight) * technical) // FULL_SCORE


def is_commitment(value: object) -> bool:
    return type(value) is str and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
