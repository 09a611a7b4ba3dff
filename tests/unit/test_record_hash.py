"""The disclosure hash is a published format: anyone re-derives a record's hash from its fields
without the exchange's code, so its spelling is pinned here, byte for byte."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from exchange.disclosure.types import GENESIS, Record, expected_hash, record_hash

PUBLISHED = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
FIELDS = dict(seq=2, kind="deal_announcement", procedure="TT2026000001", subject="TT2026000001-DEAL",
              published_at=PUBLISHED, open_until=None, corrects=None,
              body={"price": 1_250_000_00, "buyer": "投资人甲"}, prev_hash="ab" * 32)
# What a verifier hashes: keys sorted, no spaces, UTF-8 text as is, times in UTC with microseconds.
CANONICAL = ('{"body":{"buyer":"投资人甲","price":125000000},"corrects":null,"kind":"deal_announcement",'
             '"open_until":null,"prev_hash":"' + "ab" * 32 + '","procedure":"TT2026000001",'
             '"published_at":"2026-03-02T01:30:00.123456+00:00","seq":2,"subject":"TT2026000001-DEAL"}')
KNOWN = "5f5bce69f596977586054d22edd6a0a713fc6ff6389d3f3f74587c8cd31f41f8"  # sha256(CANONICAL), written down once


def test_a_records_hash_is_the_sha256_of_its_canonical_json() -> None:
    digest = hashlib.sha256(CANONICAL.encode()).hexdigest()
    assert record_hash(**FIELDS) == digest
    assert digest == KNOWN


@pytest.mark.parametrize("field, other", [
    ("seq", 3), ("kind", "failure_notice"), ("procedure", "TT2026000002"), ("subject", "TT2026000001-FAIL"),
    ("published_at", PUBLISHED + timedelta(microseconds=1)), ("open_until", PUBLISHED), ("corrects", 1),
    ("body", {"price": 1_250_000_01, "buyer": "投资人甲"}), ("prev_hash", GENESIS),
])
def test_every_field_but_the_hash_itself_is_covered(field: str, other: object) -> None:
    record = Record(**FIELDS, hash=record_hash(**FIELDS))  # type: ignore[arg-type]
    assert expected_hash(record) == record.hash
    assert expected_hash(dataclasses.replace(record, **{field: other})) != record.hash


def test_the_same_instant_in_any_time_zone_gives_the_same_hash() -> None:
    assert record_hash(**(FIELDS | {"published_at": PUBLISHED.astimezone(UTC)})) == record_hash(**FIELDS)
