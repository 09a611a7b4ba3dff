"""Quote round inputs, statuses and rules (every number a setting with DOMAIN.md's default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import msgspec

from exchange.settings import rules_from_env

QUOTE_LABEL = "quote-round"
"""Keeps quote rounds' keys apart from tenders' (see `Sealer`)."""
POINTS = 100
"""The evaluation panel scores a plan 0..100 points; the sealed book works in basis points."""
MAX_PLAN = 20_000


class RoundStatus(StrEnum):
    COLLECTING = "collecting"  # sealed quotes are taken until the deadline
    OPENED = "opened"  # opened in public; a weighted quote awaits the panel's technical scores
    AWARDED = "awarded"  # rank 1 won: the trade opened
    FAILED = "failed"  # no valid quote: the listing is unsold, deposits released


@dataclass(frozen=True)
class QuoteRules:
    min_wd: int = 3  # the deadline at least this many working days after the round opens
    min_proposals: int = 1  # fewer valid quotes at the deadline: the round fails
    sweep_s: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuoteRules:
        """EXCHANGE_QUOTE_<FIELD> overrides each default, e.g. EXCHANGE_QUOTE_MIN_WD=5."""
        return rules_from_env(cls, env, "QUOTE")


class RoundInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The operator opens the round: quotes are taken until `deadline` (with a time zone)."""

    deadline: datetime


class QuoteInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A sealed quote: the price in minor units; for a weighted quote also the plan (方案)."""

    price: int
    plan: str = ""


class ScoresInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The evaluation panel's technical scores, 0..100 points per bidder (by bidder account id)."""

    scores: dict[str, int]
