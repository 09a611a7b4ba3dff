"""The sliding commission scale per side, with its minimum fee."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exchange.settlement.types import DEFAULT_SCALE, FeeBand, commission

MINIMUM = 300_000


def test_each_band_charges_its_rate_on_the_part_of_the_price_inside_it() -> None:
    # 1,000,000 yuan at 1.5% + 1,000,000 yuan at 1%: 15,000 + 10,000 yuan
    assert commission(200_000_000, DEFAULT_SCALE, MINIMUM) == 2_500_000
    # 20M yuan: 1M at 1.5%, 4M at 1%, 5M at 0.5%, 10M at 0.2%
    assert commission(2_000_000_000, DEFAULT_SCALE, MINIMUM) == 1_500_000 + 4_000_000 + 2_500_000 + 2_000_000


def test_a_small_price_pays_the_minimum_fee_but_never_more_than_the_price() -> None:
    assert commission(10_000_000, DEFAULT_SCALE, MINIMUM) == MINIMUM  # 1.5% of 100,000 yuan is 1,500 yuan
    assert commission(100_000, DEFAULT_SCALE, MINIMUM) == 100_000


def test_rounding_is_half_up_to_the_minor_unit() -> None:
    scale = (FeeBand(0, 150),)
    assert commission(33, scale, 0) == 0  # 0.495
    assert commission(34, scale, 0) == 1  # 0.51
    assert commission(100, scale, 0) == 2  # 1.5 rounds up


@given(st.integers(1, 10**13), st.integers(1, 10**13))
def test_the_fee_never_falls_as_the_price_rises(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert commission(low, DEFAULT_SCALE, MINIMUM) <= commission(high, DEFAULT_SCALE, MINIMUM)
    assert 0 < commission(high, DEFAULT_SCALE, MINIMUM) <= high
