from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class ListingStatus(StrEnum):
    SUBMITTED = "submitted"
    RETURNED = "returned"
    ANNOUNCED = "announced"
    WITHDRAWN = "withdrawn"


class CompetitiveMethod(StrEnum):
    """How the lot is sold when two or more qualified buyers have paid deposits."""

    ENGLISH_AUCTION = "english_auction"
    SEALED_QUOTE = "sealed_quote"
    WEIGHTED_QUOTE = "weighted_quote"


class TransferMode(StrEnum):
    ASSIGNMENT = "assignment"  # 转让
    LICENCE = "licence"  # 许可
    EQUITY = "equity"  # 作价投资


DEFAULT_ANNOUNCEMENT_WD = 20
DEFAULT_DEPOSIT_BASIS_POINTS = 1_000  # 10% of the listing price


class ListingInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    achievement_id: int
    listing_price: int
    terms: str
    bidder_conditions: str
    transfer_mode: str = TransferMode.ASSIGNMENT.value
    competitive_method: str = CompetitiveMethod.ENGLISH_AUCTION.value
    deposit: int | None = None
    announcement_working_days: int = DEFAULT_ANNOUNCEMENT_WD


class Review(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: str
    reasons: str = ""


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

    def announcing(self, now: datetime) -> bool:
        return (
            self.status == ListingStatus.ANNOUNCED
            and self.announcement_end is not None
            and now < self.announcement_end
        )


def default_deposit(listing_price: int) -> int:
    return listing_price * DEFAULT_DEPOSIT_BASIS_POINTS // 10_000
