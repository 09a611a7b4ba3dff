"""Inputs and settings of a listing's extension, suspension and term changes (DOMAIN.md Listing 3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from exchange.settings import whole_number

# What a change request may touch: the listing's published terms.
CHANGEABLE = ("listing_price", "deposit", "transfer_mode", "competitive_method", "price_weight_bp",
              "terms", "bidder_conditions")


@dataclass(frozen=True)
class ChangeRules:
    """Every number a setting with DOMAIN.md's default."""

    min_extension_wd: int = 5  # each extension adds at least this many working days
    max_extension_wd: int = 250  # and at most this many (a year of working days)
    max_suspension_days: int = 30  # a suspension pauses the clock for at most a month (calendar days)
    sweep_s: float = 2.0  # how often the sweep looks for suspensions whose time is up

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ChangeRules:
        """EXCHANGE_LISTING_MIN_EXTENSION_WD and EXCHANGE_LISTING_MAX_SUSPENSION_DAYS over the defaults."""
        return cls(min_extension_wd=whole_number(env, "EXCHANGE_LISTING_MIN_EXTENSION_WD", cls.min_extension_wd, 1, 250),
                   max_suspension_days=whole_number(env, "EXCHANGE_LISTING_MAX_SUSPENSION_DAYS", cls.max_suspension_days, 1, 366))


class ExtensionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """延长挂牌: working days added to the period (from its current end; from now when unsold)."""

    working_days: int
    reason: str = ""


class SuspensionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """中止挂牌: the reason is published; the listing resumes at the latest after `days` calendar days."""

    reason: str
    days: int = 30


class ChangeRequestInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """变更申请: the terms to change (left out or equal to the current value: unchanged) and why."""

    reasons: str
    listing_price: int | None = None
    deposit: int | None = None
    transfer_mode: str | None = None
    competitive_method: str | None = None
    price_weight_bp: int | None = None
    terms: str | None = None
    bidder_conditions: str | None = None


class ChangeDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: str  # approve | reject
    note: str = ""
