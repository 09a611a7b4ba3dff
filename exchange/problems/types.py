"""Problem tender inputs, statuses and rules (难题招标 / 揭榜挂帅, DOMAIN.md Tender rule 9)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import msgspec

from exchange.settings import rules_from_env


class ProblemStatus(StrEnum):
    UNFUNDED = "unfunded"  # the budget is not escrowed yet: no work starts
    FUNDED = "funded"  # the budget is held in the tender's escrow account
    COMPLETED = "completed"  # every milestone paid
    CANCELLED = "cancelled"  # closed by the owner; what was left refunded


class MilestoneStatus(StrEnum):
    OPEN = "open"  # awaiting the solver's deliverable
    SUBMITTED = "submitted"  # awaiting the owner's decision until `window_until`
    REJECTED = "rejected"  # the solver may object until `window_until`, or resubmit
    OBJECTED = "objected"  # awaiting an operator's arbitration
    UPHELD = "upheld"  # arbitration upheld the rejection: the solver may resubmit
    ACCEPTED = "accepted"  # its share released to the solver
    CANCELLED = "cancelled"  # the problem was closed first; its share refunded


@dataclass(frozen=True)
class ProblemRules:
    acceptance_working_days: int = 10  # the owner's window to decide; the solver's window to object
    max_milestones: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProblemRules:
        """EXCHANGE_PROBLEM_<FIELD> overrides each default, e.g. EXCHANGE_PROBLEM_ACCEPTANCE_WORKING_DAYS=5."""
        return rules_from_env(cls, env, "PROBLEM")


class MilestoneInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One milestone: what is delivered, how it is accepted, its share of the budget in minor units."""

    title: str
    criteria: str
    share: int
    due_on: date


class ProblemInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The problem attached to a tender before its approval: the shares sum to the budget."""

    budget: int
    milestones: list[MilestoneInput]




class Deliverable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: str


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The owner's decision: "accept" or "reject" (with reasons)."""

    decision: str
    reasons: str = ""


class ObjectionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grounds: str


class Arbitration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An operator's ruling on an objection: "release" the share or "uphold" the rejection."""

    decision: str
    reasons: str

