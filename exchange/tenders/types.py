"""Tender inputs, statuses and rules (every number a setting with DOMAIN.md's default).

Periods here are calendar days, as DOMAIN.md counts them for tenders ("wd" marks working
days elsewhere); the calendar's acceleration shrinks them for demos and tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from exchange.settings import rules_from_env


class TenderStatus(StrEnum):
    SUBMITTED = "submitted"  # announced by its owner, awaiting the operator
    RETURNED = "returned"  # sent back by the operator with reasons
    OPEN = "open"  # published: questions, securities and sealed proposals until the deadline
    RETENDER = "retender"  # fewer proposals than the minimum at the deadline: no opening
    OPENED = "opened"  # publicly opened: bidder names and prices published; the committee scores
    CANDIDATES = "candidates"  # ranked candidates published; objections may pause the award
    AWARDED = "awarded"  # rank 1 awarded; the committee's names published
    CONTRACTED = "contracted"  # contract recorded; securities refunded


class SecurityStatus(StrEnum):
    DUE = "due"
    HELD = "held"
    REFUNDED = "refunded"
    LAPSED = "lapsed"  # never paid before the deadline


@dataclass(frozen=True)
class TenderRules:
    min_days_to_deadline: int = 20  # documents issued -> deadline
    questions_close_days: int = 10  # questions and objections until this many days before the deadline
    max_security_bp: int = 200  # bid security at most 2% of the estimate
    min_price_weight_bp: int = 1_000  # comprehensive scoring: price weight at least 10%
    min_proposals: int = 3
    max_candidates: int = 3
    min_committee: int = 5  # an odd number, at least this many
    candidates_days: int = 3  # candidates published at least this long
    objection_answer_days: int = 3
    contract_days: int = 30
    refund_days: int = 5  # securities refunded within this long after the contract (we do it at once)
    sweep_s: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TenderRules:
        """EXCHANGE_TENDER_<FIELD> overrides each default, e.g. EXCHANGE_TENDER_MIN_PROPOSALS=3."""
        return rules_from_env(cls, env, "TENDER")


def days(count: int, acceleration: int) -> timedelta:
    """`count` calendar days of the exchange's (possibly accelerated) time."""
    return timedelta(days=count) / acceleration


class TenderDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Metadata of a tender document; the file itself is issued by the owner."""

    title: str
    description: str = ""


class TenderInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """招标公告: `evaluation` "price" (lowest evaluated price) or "weighted" (comprehensive
    scoring, `price_weight` in basis points, at least 1000 = 10%)."""

    title: str
    summary: str
    estimate: int
    security: int
    documents_issued_at: datetime
    deadline: datetime
    evaluation: str = "price"
    price_weight: int = 10_000
    currency: str = "CNY"
    documents: list[TenderDocument] = []


class TenderReview(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: str  # "approve" or "return"
    reasons: str = ""


class QuestionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A question (疑问) or an objection (异议) on the announcement, or an objection to the candidates."""

    body: str
    kind: str = "question"


class AnswerInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    answer: str


class ProposalInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A sealed proposal: the price in minor units and the technical document text."""

    price: int
    technical: str


class CommitteeInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    members: list[str]


class MemberScores(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One committee member's technical scores, 0..100 points per bidder (by bidder account id)."""

    member: int
    scores: dict[str, int]


class ContractInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: str = ""


