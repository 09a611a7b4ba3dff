"""DOMAIN.md "English auction", one rule per test, on the fast and the reference book."""

from __future__ import annotations

from typing import Any

import pytest

from matching_core.codes import Rejection
from matching_core.common import AdmitBidder, AuctionClosed, Tick, fixed_increment
from matching_core.english import EnglishBook
from matching_core.english_types import BidAccepted, EnglishTerms, PlaceBid
from matching_core.reference.english import ReferenceEnglishBook

BOOKS = [EnglishBook, ReferenceEnglishBook]
OPENS, END, QUIET = 1_000, 2_000, 100


def _book(book_type: Any, **terms: Any) -> Any:
    book = book_type(EnglishTerms(**({"start_price": 100, "increments": fixed_increment(10), "opens_at": OPENS,
                                      "scheduled_end": END, "quiet_period": QUIET} | terms)))
    for bidder in ("b1", "b2"):
        assert not isinstance(book.apply(AdmitBidder(bidder), 0), Rejection)
    return book


def _closed(book: Any, now: int) -> AuctionClosed:
    events = book.tick(now)
    assert not isinstance(events, Rejection)
    [closed] = [e for e in events if isinstance(e, AuctionClosed)]
    return closed


@pytest.mark.parametrize("book_type", BOOKS)
def test_auction_opens_at_the_start_price(book_type: Any) -> None:
    book = _book(book_type)
    assert book.minimum_bid() == 100
    assert isinstance(book.apply(PlaceBid("b1", 90), OPENS + 1), Rejection)
    assert isinstance(book.apply(PlaceBid("b1", 100), OPENS - 1), Rejection)  # not before the opening
    assert not isinstance(book.apply(PlaceBid("b1", 100), OPENS + 1), Rejection)
    assert book.price == 100 and book.leader == "b1"


@pytest.mark.parametrize("book_type", BOOKS)
def test_bids_below_the_reserve_cannot_win_and_the_auction_fails(book_type: Any) -> None:
    book = _book(book_type, reserve=150)
    assert not isinstance(book.apply(PlaceBid("b1", 100), OPENS + 1), Rejection)
    assert not isinstance(book.apply(PlaceBid("b2", 140), OPENS + 2), Rejection)
    closed = _closed(book, END + QUIET)
    assert closed.sold is False and closed.winner == ""


@pytest.mark.parametrize("book_type", BOOKS)
def test_highest_valid_bid_at_or_above_the_reserve_wins(book_type: Any) -> None:
    book = _book(book_type, reserve=150)
    book.apply(PlaceBid("b1", 100), OPENS + 1)
    book.apply(PlaceBid("b2", 150), OPENS + 2)
    closed = _closed(book, END + QUIET)
    assert closed.sold is True and closed.winner == "b2" and closed.price == 150


@pytest.mark.parametrize("book_type", BOOKS)
def test_a_valid_bid_is_the_high_plus_a_positive_whole_multiple_of_the_increment(book_type: Any) -> None:
    book = _book(book_type)
    book.apply(PlaceBid("b1", 100), OPENS + 1)
    assert isinstance(book.apply(PlaceBid("b2", 100), OPENS + 2), Rejection)  # not above the high
    assert isinstance(book.apply(PlaceBid("b2", 115), OPENS + 3), Rejection)  # not a whole increment
    assert not isinstance(book.apply(PlaceBid("b2", 130), OPENS + 4), Rejection)  # three increments


@pytest.mark.parametrize("book_type", BOOKS)
def test_bids_are_irrevocable(book_type: Any) -> None:
    book = _book(book_type)
    book.apply(PlaceBid("b1", 150), OPENS + 1)
    # no command withdraws or lowers a bid: a lower one is refused and the high stands
    assert isinstance(book.apply(PlaceBid("b1", 120), OPENS + 2), Rejection)
    assert book.price == 150 and book.leader == "b1"
    assert _closed(book, END + QUIET).winner == "b1"


@pytest.mark.parametrize("book_type", BOOKS)
def test_each_valid_bid_in_the_timed_rounds_restarts_the_quiet_period_until_the_hard_cap(book_type: Any) -> None:
    book = _book(book_type, hard_cap=END + 250)
    assert book.next_deadline() == END + QUIET
    accepted = book.apply(PlaceBid("b1", 100), END + 50)  # in the timed rounds
    assert isinstance(accepted, list)
    [bid] = [e for e in accepted if isinstance(e, BidAccepted)]
    assert bid.close_at == END + 50 + QUIET  # a full quiet period from the bid
    assert not isinstance(book.apply(PlaceBid("b2", 110), END + 120), Rejection)
    assert book.next_deadline() == END + 120 + QUIET
    assert not isinstance(book.apply(PlaceBid("b1", 120), END + 200), Rejection)
    assert book.next_deadline() == END + 250  # the hard cap comes before a full quiet period
    assert isinstance(book.apply(PlaceBid("b2", 130), END + 250), Rejection)
    closed = _closed(book, END + 250)
    assert closed.winner == "b1" and closed.at == END + 250


@pytest.mark.parametrize("book_type", BOOKS)
def test_the_auction_ends_after_one_full_quiet_period_without_a_bid(book_type: Any) -> None:
    book = _book(book_type)
    book.apply(PlaceBid("b1", 100), END - 10)
    assert book.next_deadline() == END + QUIET  # a bid before the scheduled end keeps the plain close
    book.apply(Tick(), END + QUIET - 1)
    assert not book.closed
    assert _closed(book, END + QUIET).sold is True


def test_bidders_are_shown_by_anonymous_codes() -> None:
    book = _book(EnglishBook)
    assert book.code_of("b1") == "A001" and book.code_of("b2") == "A002"
