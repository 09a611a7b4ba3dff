"""One property suite for the English auction, run on the fast and the reference book."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching_core.codes import Rejection
from matching_core.common import AdmitBidder, AuctionClosed, IncrementBand, Tick, fixed_increment
from matching_core.english import EnglishBook
from matching_core.english_types import (
    BidAccepted,
    EnglishSnapshot,
    EnglishTerms,
    PlaceBid,
    PlaceProxyBid,
    event_from_raw,
    raw_command,
)
from matching_core.reference.english import ReferenceEnglishBook

PROPERTY = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
BOOKS = [EnglishBook, ReferenceEnglishBook]
BIDDERS = ["b1", "b2", "b3", "b4", "b5"]
OPENS_AT = 1_000_000
QUIET = 10_000
BANDS = (IncrementBand(0, 10), IncrementBand(200, 25), IncrementBand(400, 50))


@st.composite
def english_terms(draw: st.DrawFn) -> EnglishTerms:
    end = OPENS_AT + 40_000
    return EnglishTerms(
        start_price=draw(st.sampled_from([100, 150, 195])),
        increments=draw(st.sampled_from([fixed_increment(10), fixed_increment(7), BANDS])),
        opens_at=OPENS_AT,
        scheduled_end=end,
        quiet_period=QUIET,
        reserve=draw(st.sampled_from([None, 120, 300, 333])),
        hard_cap=draw(st.sampled_from([None, end + 25_000])),
    )


def draw_command(data: st.DataObject, book: Any, now: int) -> tuple[Any, int]:
    """A command shaped by the book's state so that most bids are near the valid ones."""
    now += data.draw(st.sampled_from([0, 1, 700, 3_000, QUIET // 2, QUIET + 1, -1]))
    kind = data.draw(st.sampled_from(["bid"] * 5 + ["proxy"] * 3 + ["admit", "tick"]))
    bidder = data.draw(st.sampled_from([*BIDDERS, "ghost"]))
    if kind == "admit":
        return AdmitBidder(bidder), now
    if kind == "tick":
        return Tick(), now
    minimum = book.minimum_bid()
    step = book.step_at(minimum)
    amount = data.draw(
        st.one_of(
            st.builds(lambda k: minimum + k * step, st.integers(0, 6)),
            st.builds(lambda k: minimum + k * step, st.integers(0, 2)),
            st.sampled_from([minimum + 1, minimum - step, 0, -10, 2**63, True, 150.0]),
        )
    )
    if kind == "bid":
        return PlaceBid(bidder, amount), now
    return PlaceProxyBid(bidder, amount), now


def run_session(data: st.DataObject, book_type: Any, length: int = 40) -> tuple[Any, list[Any]]:
    """Plays a drawn session; returns the book and [(command, now, result)]."""
    terms = data.draw(english_terms())
    book = book_type(terms)
    now = OPENS_AT - 5_000
    played = []
    for bidder in data.draw(st.lists(st.sampled_from(BIDDERS), max_size=5, unique=True)):
        played.append((AdmitBidder(bidder), now, book.apply(AdmitBidder(bidder), now)))
    for _ in range(data.draw(st.integers(0, length))):
        command, now = draw_command(data, book, now)
        played.append((command, now, book.apply(command, now)))
        now = max(now, 0)
    final = now + 200_000
    played.append((Tick(), final, book.apply(Tick(), final)))
    return book, played


def accepted_events(played: list[Any]) -> list[Any]:
    return [e for _, _, result in played if not isinstance(result, Rejection) for e in result]


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_high_bid_only_rises_by_whole_increments(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    previous = 0
    for event in accepted_events(played):
        if not isinstance(event, BidAccepted):
            continue
        if previous == 0:
            start = book.terms.start_price
            assert event.price >= start
            assert (event.price - start) % book.step_at(start) == 0
        else:
            assert event.price >= previous
            assert (event.price - previous) % book.step_at(previous) == 0
        assert event.price <= event.leader_max
        previous = event.price


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_winner_is_highest_maximum_earliest_on_ties(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    commitments: list[tuple[int, int, str]] = []
    for event in accepted_events(played):
        if isinstance(event, BidAccepted):
            commitments.append((-event.amount, len(commitments), event.bidder))
            best = min(commitments)
            assert event.leader == best[2]
            assert event.leader_max == -best[0]
        if isinstance(event, AuctionClosed):
            reserve = book.terms.reserve or 0
            if commitments and event.price >= reserve and event.sold:
                assert event.winner == min(commitments)[2]
            else:
                assert not event.sold and event.winner == ""
            assert event.sold == (bool(commitments) and book.price >= reserve)
    assert book.closed


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_timed_round_never_shortens_close(book_type: Any, data: st.DataObject) -> None:
    terms = data.draw(english_terms())
    book = book_type(terms)
    cap = terms.hard_cap if terms.hard_cap is not None else 2**63
    close = book.next_deadline()
    assert close == min(terms.scheduled_end + terms.quiet_period, cap)
    _, played = run_session(data, lambda _: book)
    for _command, now, result in played:
        if isinstance(result, Rejection):
            continue
        for event in result:
            if isinstance(event, BidAccepted):
                assert now < close, "no bid is accepted at or after the close"
                assert event.close_at >= close
                assert event.close_at >= min(now + terms.quiet_period, cap)
                close = event.close_at
            if isinstance(event, AuctionClosed):
                assert event.at >= close
        deadline = book.next_deadline()
        assert deadline is None or deadline >= close


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_outcome_is_independent_of_batching(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    one_by_one = [event for event in accepted_events(played)]
    batched = book_type(book.terms)
    commands = [raw_command(command, now) for command, now, _ in played if _valid_now(now)]
    out: list[Any] = []
    codes: list[int] = []
    while commands:
        size = data.draw(st.integers(1, 8))
        codes += batched.apply_many(commands[:size], out)
        commands = commands[size:]
    assert [event_from_raw(raw) for raw in out] == one_by_one
    expected = [0 if not isinstance(r, Rejection) else int(r.code) for c, n, r in played if _valid_now(n)]
    assert codes == expected
    assert batched.state_hash() == book.state_hash()


def _valid_now(now: int) -> bool:
    return now >= 0


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_snapshot_restore_and_replay_give_same_hash(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    events = accepted_events(played)
    assert book_type.from_events(book.terms, events).state_hash() == book.state_hash()
    wire = msgspec.json.encode(book.snapshot())
    restored = book_type.restore(msgspec.json.decode(wire, type=EnglishSnapshot))
    assert restored.state_hash() == book.state_hash()
    assert restored.snapshot() == book.snapshot()


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_restored_book_continues_like_the_original(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type, length=20)
    twin = book_type.restore(book.snapshot())
    now = max(n for _, n, _ in played)
    for _ in range(data.draw(st.integers(0, 15))):
        command, now = draw_command(data, book, now)
        assert twin.apply(command, now) == book.apply(command, now)
        assert twin.state_hash() == book.state_hash()


@PROPERTY
@given(data=st.data())
def test_fast_and_reference_books_agree(data: st.DataObject) -> None:
    terms = data.draw(english_terms())
    fast, reference = EnglishBook(terms), ReferenceEnglishBook(terms)
    now = OPENS_AT - 5_000
    for bidder in BIDDERS[: data.draw(st.integers(0, 5))]:
        assert fast.apply(AdmitBidder(bidder), now) == reference.apply(AdmitBidder(bidder), now)
    for _ in range(data.draw(st.integers(0, 60))):
        command, now = draw_command(data, fast, now)
        assert fast.apply(command, now) == reference.apply(command, now)
        assert fast.state_hash() == reference.state_hash()
        assert fast.next_deadline() == reference.next_deadline()
        assert fast.minimum_bid() == reference.minimum_bid()
        now = max(now, 0)
