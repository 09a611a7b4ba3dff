"""The operator's auction form: amounts in yuan, Beijing times, an optional increment table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from exchange.auctions.types import IncrementStep
from exchange.errors import ValidationFailed
from web.pages.auctions import parse_increment_table, spec_from_form

FORM = {"start_price": "1,000,000", "increment": "5000", "opens_at": "2026-03-02T10:00",
        "scheduled_end": "2026-03-02T11:30", "quiet_period_s": "300"}


def test_a_fixed_increment_form_becomes_a_spec_in_minor_units_and_utc() -> None:
    spec = spec_from_form(FORM)
    assert spec.start_price == 100_000_000 and spec.increment == 500_000 and spec.increment_table is None
    assert spec.opens_at == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert spec.scheduled_end == datetime(2026, 3, 2, 3, 30, tzinfo=UTC)
    assert spec.reserve is None and spec.hard_cap is None and spec.quiet_period_s == 300


def test_an_increment_table_replaces_the_fixed_increment() -> None:
    spec = spec_from_form(FORM | {"increment_table": "0, 1000\n1,000,000；5,000\n\n5000000 10000"})
    assert spec.increment is None
    assert spec.increment_table == [IncrementStep(0, 100_000), IncrementStep(100_000_000, 500_000),
                                    IncrementStep(500_000_000, 1_000_000)]


@pytest.mark.parametrize(("table", "message"), [
    ("0", "line 1"),
    ("0, 1000\n100 200 300", "line 2"),
    ("0, -5", "line 1"),
])
def test_a_malformed_increment_table_names_its_line(table: str, message: str) -> None:
    errors: dict[str, str] = {}
    assert parse_increment_table(errors, table) == []
    assert errors["increment_table"].startswith(message)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as failed:
        spec_from_form({"start_price": "abc", "increment": "", "opens_at": "tomorrow", "scheduled_end": "",
                        "quiet_period_s": "5 minutes"})
    assert set(failed.value.field_errors) == {"start_price", "increment", "opens_at", "scheduled_end", "quiet_period_s"}
