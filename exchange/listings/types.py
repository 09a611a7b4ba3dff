from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import msgspec

from exchange.settings import whole_number


class ListingStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ANNOUNCED = "announced"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"  # the announcement's clock is paused (at most a month)
    QUALIFYING = "qualifying"  # the period ended: intents are qualified, deposits paid
    UNSOLD = "unsold"  # no qualified, deposited buyer: extend or relist
    AGREEMENT = "agreement"  # one buyer: it confirms a quote at or above the listing price
    COMPETITION = "competition"  # two or more: the method chosen at listing
    DEALT = "dealt"  # a trade was opened
    RELISTED = "relisted"  # replaced by a new listing


class CompetitiveMethod(StrEnum):
    """How the lot is sold when two or more qualified buyers have paid deposits."""

    ENGLISH_AUCTION = "english_auction"
    SEALED_QUOTE = "sealed_quote"
    WEIGHTED_QUOTE = "weighted_quote"


class TransferMode(StrEnum):
    ASSIGNMENT = "assignment"  # 转让
    LICENCE = "licence"  # 许可
    EQUITY = "equity"  # 作价投资


@dataclass(frozen=True)
class ProcedureRules:
    """The listing procedure's numbers, each an exchange setting with DOMAIN.md's default
    (EXCHANGE_LISTING_QUALIFICATION_WD, EXCHANGE_LISTING_RELIST_FLOOR_BP)."""

    qualification_wd: int = 5  # the operator qualifies each intent within 5 working days of the period's end
    relist_floor_bp: int = 9_000  # a relisting may go down to 90% of the appraisal without approval

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcedureRules:
        return cls(qualification_wd=whole_number(env, "EXCHANGE_LISTING_QUALIFICATION_WD", cls.qualification_wd, 1, 60),
                   relist_floor_bp=whole_number(env, "EXCHANGE_LISTING_RELIST_FLOOR_BP", cls.relist_floor_bp, 1, 10_000))


DEFAULT_ANNOUNCEMENT_WD = 20
DEFAULT_DEPOSIT_BASIS_POINTS = 1_000  # 10% of the listing price
DEFAULT_PRICE_WEIGHT_BP = 6_000  # weighted quote (综合评议): price counts 60% of the score
MIN_PRICE_WEIGHT_BP = 1_000  # ... and never less than 10%
PUBLIC_STATUSES = ("announced", "suspended", "qualifying", "unsold", "agreement", "competition", "dealt", "relisted")
"""Statuses in which a listing is public (its announcement and what followed)."""


class ListingInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    achievement_id: int
    listing_price: int
    terms: str
    bidder_conditions: str
    transfer_mode: str = TransferMode.ASSIGNMENT.value
    competitive_method: str = CompetitiveMethod.ENGLISH_AUCTION.value
    deposit: int | None = None
    announcement_working_days: int = DEFAULT_ANNOUNCEMENT_WD
    price_weight_bp: int = DEFAULT_PRICE_WEIGHT_BP


class Review(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`approve_below_floor`: the operator's explicit approval of a relisting priced below
    90% of the appraisal."""

    decision: str
    reasons: str = ""
    approve_below_floor: bool = False


class ReviewRecord(msgspec.Struct, frozen=True):
    decision: str
    reasons: str
    operator_name: str
    decided_at: datetime


class Listing(msgspec.Struct, frozen=True):
    id: int
    reference_no: str
    achievement_id: int
    seller_id: int
    seller_name: str
    status: ListingStatus
    title: str
    title_en: str
    summary: str
    summary_en: str
    field: str
    kind: str
    ip_identifiers: list[str]
    inventors: list[str]
    funding_source: str
    programme: str
    maturity: str
    appraised_value: int | None
    listing_price: int
    currency: str
    deposit: int
    transfer_mode: TransferMode
    terms: str
    bidder_conditions: str
    competitive_method: CompetitiveMethod
    announcement_working_days: int
    submitted_at: datetime
    reviewed_at: datetime | None
    return_reasons: str
    announcement_start: datetime | None
    announcement_end: datetime | None
    price_weight_bp: int = DEFAULT_PRICE_WEIGHT_BP
    qualification_due: datetime | None = None
    outcome_at: datetime | None = None
    agreement_due: datetime | None = None
    relisted_from: int | None = None
    below_floor_approved_by: int | None = None

    def announcing(self, now: datetime) -> bool:
        return (
            self.status == ListingStatus.ANNOUNCED
            and self.announcement_end is not None
            and now < self.announcement_end
        )


def default_deposit(listing_price: int) -> int:
    return listing_price * DEFAULT_DEPOSIT_BASIS_POINTS // 10_000
