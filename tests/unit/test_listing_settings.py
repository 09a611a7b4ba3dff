"""The listing procedure's and changes' numbers are exchange settings with DOMAIN.md's defaults."""

from __future__ import annotations

import pytest

from exchange.listings.change_types import ChangeRules
from exchange.listings.types import ProcedureRules


def test_defaults_are_the_rules_numbers() -> None:
    assert ProcedureRules.from_env({}) == ProcedureRules(qualification_wd=5, relist_floor_bp=9_000)
    rules = ChangeRules.from_env({})
    assert (rules.min_extension_wd, rules.max_suspension_days) == (5, 30)


def test_settings_override_the_defaults() -> None:
    assert ProcedureRules.from_env({"EXCHANGE_LISTING_QUALIFICATION_WD": "7",
                                    "EXCHANGE_LISTING_RELIST_FLOOR_BP": "8500"}) == ProcedureRules(7, 8_500)
    rules = ChangeRules.from_env({"EXCHANGE_LISTING_MIN_EXTENSION_WD": "10",
                                  "EXCHANGE_LISTING_MAX_SUSPENSION_DAYS": "20"})
    assert (rules.min_extension_wd, rules.max_suspension_days) == (10, 20)


@pytest.mark.parametrize("name, raw", [
    ("EXCHANGE_LISTING_QUALIFICATION_WD", "0"), ("EXCHANGE_LISTING_RELIST_FLOOR_BP", "10001"),
    ("EXCHANGE_LISTING_RELIST_FLOOR_BP", "ninety"),
])
def test_a_bad_procedure_setting_stops_the_exchange_with_its_name(name: str, raw: str) -> None:
    with pytest.raises(SystemExit, match=name):
        ProcedureRules.from_env({name: raw})


@pytest.mark.parametrize("name, raw", [
    ("EXCHANGE_LISTING_MIN_EXTENSION_WD", "-5"), ("EXCHANGE_LISTING_MAX_SUSPENSION_DAYS", "0"),
])
def test_a_bad_change_setting_stops_the_exchange_with_its_name(name: str, raw: str) -> None:
    with pytest.raises(SystemExit, match=name):
        ChangeRules.from_env({name: raw})
