"""Rules read from EXCHANGE_* settings over their defaults, with bad values refused by name."""

from __future__ import annotations

import pytest

from exchange.problems.types import ProblemRules
from exchange.quotes.types import QuoteRules
from exchange.settings import whole_number


def test_each_field_is_a_setting_and_seconds_may_be_decimal() -> None:
    rules = QuoteRules.from_env({"EXCHANGE_QUOTE_MIN_WD": "5", "EXCHANGE_QUOTE_SWEEP_S": "0.5"})
    assert (rules.min_wd, rules.min_proposals, rules.sweep_s) == (5, QuoteRules().min_proposals, 0.5)
    assert ProblemRules.from_env({}) == ProblemRules()


def test_a_bad_value_stops_the_exchange_naming_the_setting() -> None:
    with pytest.raises(SystemExit, match="EXCHANGE_QUOTE_MIN_WD must be a number"):
        QuoteRules.from_env({"EXCHANGE_QUOTE_MIN_WD": "three"})
    with pytest.raises(SystemExit, match="EXCHANGE_X must be a whole number from 1 to 9"):
        whole_number({"EXCHANGE_X": "10"}, "EXCHANGE_X", 3, 1, 9)
    assert whole_number({"EXCHANGE_X": " "}, "EXCHANGE_X", 3, 1, 9) == 3
