"""Input checks and display formatting at the edge: no server needed."""

from __future__ import annotations

import pytest

from exchange.errors import ValidationFailed
from exchange.validation import FieldErrors, amount, text
from web.i18n import MESSAGES, format_money, translate
from web.pages.common import parse_money


@pytest.mark.parametrize(("raw", "minor"), [
    ("1200000", 120_000_000), ("1,200,000.50", 120_000_050), ("0.5", 50), ("12.05", 1205), ("１２", 1200), ("１，０００", 100_000),
])
def test_typed_amounts_become_minor_units(raw: str, minor: int | None) -> None:
    errors: dict[str, str] = {}
    assert parse_money(errors, "price", raw) == minor
    assert bool(errors) == (minor is None)


@pytest.mark.parametrize("raw", ["-5", "1.234", "1e6", "abc", "1.2.3", "99999999999999999", "NaN", " . ", "²", "1.²"])
def test_ambiguous_or_negative_amounts_are_refused(raw: str) -> None:
    errors: dict[str, str] = {}
    assert parse_money(errors, "price", raw) is None
    assert "price" in errors


def test_money_is_formatted_only_at_the_edge() -> None:
    assert format_money(120_000_050, "CNY") == "¥1,200,000.50"
    assert format_money(5, "USD") == "US$0.05"
    assert format_money(-100, "EUR") == "-€1.00"


@pytest.mark.parametrize("value", ["<script>x</script>", "<img src=x>", "</p>", "<!-- c -->", "JavaScript:alert(1)"])
def test_markup_is_refused(value: str) -> None:
    errors = FieldErrors()
    text(errors, "title", value, max_len=100)
    with pytest.raises(ValidationFailed):
        errors.raise_if_any()


@pytest.mark.parametrize("value", ["5 < 6", "R&D", "a > b", "“引号”", "C++ <= 2"])
def test_plain_text_with_symbols_is_kept(value: str) -> None:
    errors = FieldErrors()
    assert text(errors, "title", value, max_len=100) == value
    errors.raise_if_any()


@pytest.mark.parametrize("value", [0, -1, 10**15 + 1, True, 1.5, None])
def test_amounts_must_be_positive_whole_minor_units(value: object) -> None:
    errors = FieldErrors()
    amount(errors, "price", value)  # type: ignore[arg-type]
    assert "price" in errors.errors


def test_every_message_has_both_languages() -> None:
    for key, (zh, en) in MESSAGES.items():
        assert zh and en, key
        assert zh.count("{") == en.count("{"), key


def test_unknown_message_keys_fall_back_to_the_default() -> None:
    assert translate("en", "no.such.key", default="Fallback") == "Fallback"
    assert translate("zh", "search.results", total=3) == "共 3 项挂牌"
