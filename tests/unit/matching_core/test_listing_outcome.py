"""Listing outcome rules at the end of the announcement period (公告期)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching_core.codes import RejectCode, Rejection
from matching_core.listing import (
    CompetitiveMethod,
    IntendedBuyer,
    ListingOutcome,
    ListingOutcomeKind,
    ListingPrices,
    agreement_quote_problem,
    decide_listing_outcome,
    relist_floor,
)

PRICES = ListingPrices(listing_price=1_200_000, appraisal=1_000_000)


def buyer(name: str, qualified: bool = True, deposited: bool = True) -> IntendedBuyer:
    return IntendedBuyer(name, qualified, deposited)


def decide(*args: Any, **kwargs: Any) -> ListingOutcome:
    outcome = decide_listing_outcome(*args, **kwargs)
    assert isinstance(outcome, ListingOutcome)
    return outcome


def test_no_buyer_means_extend_or_relist_down_to_ninety_percent_of_the_appraisal() -> None:
    outcome = decide(PRICES, [buyer("a", qualified=False), buyer("b", deposited=False)])
    assert outcome.kind is ListingOutcomeKind.EXTEND_OR_RELIST
    assert outcome.buyers == [] and outcome.relist_floor == 900_000
    assert not outcome.needs_approval


def test_relisting_below_the_floor_needs_operator_approval() -> None:
    assert decide(PRICES, [], relist_price=899_999).needs_approval
    assert not decide(PRICES, [], relist_price=900_000).needs_approval


def test_floor_rounds_up_to_a_whole_minor_unit() -> None:
    assert relist_floor(ListingPrices(listing_price=15, appraisal=11)) == 10  # 9.9 -> 10
    assert relist_floor(ListingPrices(listing_price=15, appraisal=11, relist_floor_bp=10_000)) == 11


def test_without_appraisal_there_is_no_floor() -> None:
    outcome = decide(ListingPrices(listing_price=500), [], relist_price=1)
    assert outcome.relist_floor == 0 and not outcome.needs_approval


def test_one_buyer_means_an_agreement_at_the_listing_price() -> None:
    outcome = decide(PRICES, [buyer("a"), buyer("b", deposited=False)])
    assert outcome.kind is ListingOutcomeKind.AGREEMENT
    assert outcome.buyers == ["a"] and outcome.price == 1_200_000


def test_agreement_quote_must_reach_the_listing_price() -> None:
    assert agreement_quote_problem(PRICES, 1_200_000) is None
    below = agreement_quote_problem(PRICES, 1_199_999)
    assert isinstance(below, Rejection) and below.code is RejectCode.BELOW_LISTING_PRICE
    for bad in (0, -1, 2**63, True, 1.5, "1200000"):
        problem = agreement_quote_problem(PRICES, bad)
        assert isinstance(problem, Rejection) and problem.code is RejectCode.INVALID_AMOUNT


@pytest.mark.parametrize("method", list(CompetitiveMethod))
def test_two_buyers_convert_to_the_method_chosen_at_listing(method: CompetitiveMethod) -> None:
    prices = ListingPrices(listing_price=100, appraisal=100, method=method)
    outcome = decide(prices, [buyer("a"), buyer("x", qualified=False), buyer("b")])
    assert outcome.kind is ListingOutcomeKind.COMPETITION
    assert outcome.method is method and outcome.buyers == ["a", "b"]


@pytest.mark.parametrize(
    ("prices", "buyers", "relist_price", "code"),
    [
        (ListingPrices(listing_price=0), [], None, RejectCode.INVALID_LISTING),
        (ListingPrices(listing_price=99, appraisal=100), [], None, RejectCode.INVALID_LISTING),
        (ListingPrices(listing_price=99, appraisal=-1), [], None, RejectCode.INVALID_LISTING),
        (ListingPrices(listing_price=99, method=7), [], None, RejectCode.INVALID_LISTING),  # type: ignore[arg-type]
        (ListingPrices(listing_price=99, relist_floor_bp=0), [], None, RejectCode.INVALID_LISTING),
        (
            ListingPrices(listing_price=99, relist_floor_bp=10_001),
            [],
            None,
            RejectCode.INVALID_LISTING,
        ),
        (
            ListingPrices(listing_price=99, relist_floor_bp=1.5),
            [],
            None,
            RejectCode.INVALID_LISTING,
        ),  # type: ignore[arg-type]
        (PRICES, [], 0, RejectCode.INVALID_AMOUNT),
        (PRICES, [], 2**63, RejectCode.INVALID_AMOUNT),
        (PRICES, {"a"}, None, RejectCode.INVALID_COMMAND),
        (PRICES, ["a"], None, RejectCode.INVALID_BIDDER),
        (PRICES, [buyer("")], None, RejectCode.INVALID_BIDDER),
        (PRICES, [buyer("a"), buyer("a", qualified=False)], None, RejectCode.DUPLICATE_BIDDER),
    ],
)
def test_bad_input_is_a_rejection(
    prices: Any, buyers: Any, relist_price: Any, code: RejectCode
) -> None:
    outcome = decide_listing_outcome(prices, buyers, relist_price)
    assert isinstance(outcome, Rejection) and outcome.code is code


def test_truthy_but_not_true_flags_do_not_qualify() -> None:
    outcome = decide(PRICES, [IntendedBuyer("a", 1, "yes")])  # type: ignore[arg-type]
    assert outcome.kind is ListingOutcomeKind.EXTEND_OR_RELIST


@settings(max_examples=200, deadline=None)
@given(
    appraisal=st.one_of(st.none(), st.integers(1, 10**12)),
    markup=st.integers(0, 10**6),
    flags=st.lists(st.tuples(st.booleans(), st.booleans()), max_size=6),
    relist_price=st.one_of(st.none(), st.integers(1, 10**12)),
)
def test_outcome_follows_the_number_of_qualified_deposited_buyers(
    appraisal: int | None, markup: int, flags: list[tuple[bool, bool]], relist_price: int | None
) -> None:
    prices = ListingPrices(listing_price=(appraisal or 1) + markup, appraisal=appraisal)
    buyers = [IntendedBuyer(f"u{i}", q, d) for i, (q, d) in enumerate(flags)]
    outcome = decide(prices, buyers, relist_price)
    eligible = [b.buyer for b in buyers if b.qualified and b.deposited]
    assert outcome.buyers == eligible
    if not eligible:
        floor = 0 if appraisal is None else -(-appraisal * 9 // 10)
        assert outcome.kind is ListingOutcomeKind.EXTEND_OR_RELIST
        assert outcome.relist_floor == floor
        assert floor * 10 >= (appraisal or 0) * 9 > (floor - 1) * 10
        assert outcome.needs_approval == (relist_price is not None and relist_price < floor)
    elif len(eligible) == 1:
        assert (
            outcome.kind is ListingOutcomeKind.AGREEMENT and outcome.price == prices.listing_price
        )
    else:
        assert outcome.kind is ListingOutcomeKind.COMPETITION
        assert outcome.method is CompetitiveMethod.ENGLISH_AUCTION
