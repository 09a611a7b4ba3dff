from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class Kind(StrEnum):
    PATENT = "patent"
    SOFTWARE = "software"
    KNOW_HOW = "know_how"
    LICENCE = "licence"
    EQUITY = "equity"


class FundingSource(StrEnum):
    PUBLIC = "public"  # 财政资金
    NON_PUBLIC = "non_public"


class Maturity(StrEnum):
    LAB = "lab"
    PILOT = "pilot"
    PROTOTYPE = "prototype"
    SMALL_BATCH = "small_batch"
    INDUSTRIALISED = "industrialised"


FIELDS = (
    "information_technology",
    "biomedicine",
    "new_materials",
    "advanced_manufacturing",
    "new_energy",
    "energy_environment",
    "modern_agriculture",
    "aerospace",
    "marine",
    "other",
)


class Document(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Metadata of a supporting document; the file itself is kept by the institution."""

    title: str
    kind: str = "other"
    pages: int | None = None
    sha256: str = ""


DOCUMENT_KINDS = ("patent_certificate", "appraisal_report", "test_report", "technical_summary",
                  "software_registration", "other")


class AchievementInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    title: str
    summary: str
    field: str
    kind: str
    funding_source: str
    maturity: str
    currency: str = "CNY"
    title_en: str = ""
    summary_en: str = ""
    ip_identifiers: list[str] = []
    inventors: list[str] = []
    programme: str = ""
    appraised_value: int | None = None
    documents: list[Document] = []


class Achievement(msgspec.Struct, frozen=True):
    id: int
    owner_id: int
    owner_name: str
    title: str
    title_en: str
    summary: str
    summary_en: str
    field: str
    kind: Kind
    ip_identifiers: list[str]
    inventors: list[str]
    funding_source: FundingSource
    programme: str
    maturity: Maturity
    appraised_value: int | None
    currency: str
    documents: list[Document]
    created_at: datetime
    updated_at: datetime
