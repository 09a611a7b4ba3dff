"""Every kind of disclosure record has its OCDS release tags, so no procedure's release package fails."""

from __future__ import annotations

from datetime import UTC, datetime

from exchange.disclosure.ocds import TAGS, release
from exchange.disclosure.types import GENESIS, Kind, Record


def test_every_disclosure_kind_maps_to_ocds_release_tags() -> None:
    assert set(Kind) - set(TAGS) == set()


def test_a_listing_procedure_record_becomes_a_release_without_sections_it_does_not_have() -> None:
    record = Record(seq=7, kind=Kind.LISTING_OUTCOME, procedure="TT2026000001", subject="TT2026000001-OUTCOME-1",
                    published_at=datetime(2026, 3, 2, tzinfo=UTC), open_until=None, corrects=None,
                    body={"outcome": "competition", "buyers": 2}, prev_hash=GENESIS, hash="a" * 64)
    out = release("TT2026000001", record)
    assert out["tag"] == ["tenderUpdate"]
    assert out["ocid"].endswith("TT2026000001") and out["disclosure"]["seq"] == 7
