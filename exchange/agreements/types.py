"""Agreement-pricing inputs, statuses and rules (every number a setting with DOMAIN.md's default).

The notice period is counted in calendar days ("the notice runs >= 15 days"); the calendar's
acceleration shrinks it for demos and tests without changing the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import msgspec

from exchange.settings import rules_from_env

MIN_NOTICE_DAYS = 15  # DOMAIN.md: the notice runs at least 15 days (the schema refuses fewer)
MAX_NOTICE_DAYS = 90


class AgreementStatus(StrEnum):
    NOTICED = "noticed"  # the notice runs (or ran) without an open objection
    OBJECTED = "objected"  # at least one objection awaits the operator's answer: it cannot close
    CLEARED = "cleared"  # the notice ended with no open objection (the trade opens in the same step)
    CANCELLED = "cancelled"  # an objection was upheld, or the institution withdrew the notice
    DEALT = "dealt"  # its trade was opened; it settles like any other


OPEN = (AgreementStatus.NOTICED.value, AgreementStatus.OBJECTED.value)


class ObjectionOutcome(StrEnum):
    UPHELD = "upheld"  # the agreement is cancelled and can never close
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class AgreementRules:
    notice_days: int = MIN_NOTICE_DAYS  # the default notice period, in calendar days
    sweep_s: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AgreementRules:
        """EXCHANGE_AGREEMENT_<FIELD> overrides each default, e.g. EXCHANGE_AGREEMENT_NOTICE_DAYS=20."""
        rules = rules_from_env(cls, env, "AGREEMENT")
        if not MIN_NOTICE_DAYS <= rules.notice_days <= MAX_NOTICE_DAYS:
            raise SystemExit(f"EXCHANGE_AGREEMENT_NOTICE_DAYS must be from {MIN_NOTICE_DAYS} to {MAX_NOTICE_DAYS}, "
                             f"got {rules.notice_days}")
        return rules


def notice_period(days: int, acceleration: int) -> timedelta:
    """`days` calendar days of the exchange's (possibly accelerated) time."""
    return timedelta(days=days) / acceleration


class AgreementInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """协议定价公示: the achievement (one of the institution's own), the buyer by e-mail, the agreed
    price in minor units, the transfer mode, whether the buyer is an inventor or a related party.
    An empty summary is the achievement's; an empty objection procedure gets the standard text;
    no `notice_days`: the exchange's setting (at least 15)."""

    achievement_id: int
    buyer_email: str
    price: int
    transfer_mode: str = "assignment"
    summary: str = ""
    related_party: bool = False
    related_party_note: str = ""
    objection_procedure: str = ""
    notice_days: int | None = None


class ObjectionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grounds: str


class ObjectionAnswer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The operator's answer: "upheld" (the agreement is cancelled) or "dismissed"."""

    outcome: str
    answer: str


class WithdrawInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str
