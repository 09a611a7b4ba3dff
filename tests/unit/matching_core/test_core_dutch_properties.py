"""One property suite for the Dutch auction, run on the fast and the reference book."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching_core.codes import Rejection
from matching_core.common import AdmitBidder, AuctionClosed, Tick
from matching_core.dutch import DutchBook
from matching_core.dutch_types import (
    AcceptPrice,
    DeclineMatch,
    DutchPhase,
    DutchSnapshot,
    DutchTerms,
    MatchBestBid,
    MatchOffered,
    PriceAccepted,
    SealedBidPlaced,
    SubmitSealedBid,
)
from matching_core.reference.dutch import ReferenceDutchBook

PROPERTY = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
BOOKS = [DutchBook, ReferenceDutchBook]
BIDDERS = ["b1", "b2", "b3", "b4"]
OPENS_AT = 1_000_000
INTERVAL = 1_000


@st.composite
def dutch_terms(draw: st.DrawFn) -> DutchTerms:
    start = draw(st.sampled_from([1_000, 1_050]))
    return DutchTerms(
        start_price=start,
        floor_price=draw(st.sampled_from([300, start])),
        step=draw(st.sampled_from([100, 70])),
        interval=INTERVAL,
        opens_at=OPENS_AT,
        insider=draw(st.booleans()),
        sealed_window=2_000,
        match_window=1_500,
    )


KINDS = {
    DutchPhase.FALLING: ["accept"] * 4 + ["sealed", "match", "admit", "tick"],
    DutchPhase.SEALED: ["sealed"] * 6 + ["accept", "match", "decline", "admit", "tick"],
    DutchPhase.MATCHING: ["match", "decline", "sealed", "accept", "admit", "tick"],
    DutchPhase.CLOSED: ["accept", "sealed", "match", "decline", "admit", "tick"],
}


def draw_command(data: st.DataObject, book: Any, now: int) -> tuple[Any, int]:
    """A command shaped by the book's phase, so that most sessions reach the insider round."""
    snapshot = book.snapshot()
    now += data.draw(st.sampled_from([0, 1, 37, 150, 150, 400, 400, 999, INTERVAL, 2_500, -1]))
    kind = data.draw(st.sampled_from(KINDS[snapshot.phase]))
    likely = snapshot.bidders
    if kind in ("match", "decline") and snapshot.accepter:
        likely = [snapshot.accepter]
    bidder = data.draw(st.sampled_from([*likely, *likely, *BIDDERS, "ghost", ""]))
    if kind == "accept":
        return AcceptPrice(bidder), now
    if kind == "sealed":
        base = snapshot.accepted_price
        amount = data.draw(
            st.one_of(
                st.builds(lambda k: base + 10 * k, st.integers(0, 5)),
                st.sampled_from([0, -5, 2**63, True, 1.5, "900"]),
            )
        )
        return SubmitSealedBid(bidder, amount), now
    if kind == "match":
        return MatchBestBid(bidder), now
    if kind == "decline":
        return DeclineMatch(bidder), now
    if kind == "admit":
        return AdmitBidder(bidder), now
    return Tick(), now


def run_session(
    data: st.DataObject, book_type: Any, length: int = 30, final_tick: bool = True
) -> tuple[Any, list[Any]]:
    terms = data.draw(dutch_terms())
    book = book_type(terms)
    now = OPENS_AT - 100
    played = []
    for bidder in data.draw(st.lists(st.sampled_from(BIDDERS), max_size=4, unique=True)):
        played.append((AdmitBidder(bidder), now, book.apply(AdmitBidder(bidder), now)))
    for _ in range(data.draw(st.integers(0, length))):
        command, now = draw_command(data, book, now)
        played.append((command, now, book.apply(command, now)))
        now = max(now, 0)
    if final_tick:
        final = now + 20_000
        played.append((Tick(), final, book.apply(Tick(), final)))
    return book, played


def accepted_events(played: list[Any]) -> list[Any]:
    return [e for _, _, result in played if not isinstance(result, Rejection) for e in result]


def brute_price(terms: DutchTerms, at: int) -> int:
    """The price walked down one interval at a time."""
    price = terms.start_price
    t = terms.opens_at + terms.interval
    while t <= at:
        price = max(terms.floor_price, price - terms.step)
        t += terms.interval
    return price


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_first_accept_wins_at_the_falling_price(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    terms = book.terms
    events = accepted_events(played)
    accepts = [e for e in events if isinstance(e, PriceAccepted)]
    sealed = [e for e in events if isinstance(e, SealedBidPlaced)]
    closes = [e for e in events if isinstance(e, AuctionClosed)]
    assert len(closes) == 1 and book.snapshot().phase is DutchPhase.CLOSED
    (close,) = closes
    assert len(accepts) <= 1
    if not accepts:
        assert not close.sold and close.winner == "" and close.price == 0
        return
    (accept,) = accepts
    assert accept.price == brute_price(terms, accept.at)
    assert terms.floor_price <= accept.price <= terms.start_price
    assert all(s.amount > accept.price and s.bidder != accept.bidder for s in sealed)
    matched = any(
        isinstance(c, MatchBestBid) and not isinstance(r, Rejection) for c, _, r in played
    )
    assert close.sold
    if not sealed:
        assert (close.winner, close.price) == (accept.bidder, accept.price)
        return
    assert terms.insider
    best = max(s.amount for s in sealed)
    first_best = next(s for s in sealed if s.amount == best)
    assert close.price == best
    assert close.winner == (accept.bidder if matched else first_best.bidder)


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_no_accept_after_the_floor_interval_and_no_sealed_bid_after_its_window(
    book_type: Any, data: st.DataObject
) -> None:
    book, played = run_session(data, book_type)
    terms = book.terms
    drops = -(-(terms.start_price - terms.floor_price) // terms.step)
    ends_at = terms.opens_at + (drops + 1) * terms.interval
    accept_at = None
    for _, now, result in played:
        for event in [] if isinstance(result, Rejection) else result:
            if isinstance(event, PriceAccepted):
                assert terms.opens_at <= now < ends_at
                accept_at = now
            if isinstance(event, SealedBidPlaced):
                assert accept_at is not None and now < accept_at + terms.sealed_window
            if isinstance(event, MatchOffered):
                assert accept_at is not None
                assert event.match_until == accept_at + terms.sealed_window + terms.match_window


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_outcome_is_independent_of_when_the_timer_fires(
    book_type: Any, data: st.DataObject
) -> None:
    """Whether or not the host ticks before a command, every command gets the same answer."""
    book, played = run_session(data, book_type)
    untimed, ticked = book_type(book.terms), book_type(book.terms)
    codes, untimed_codes, events, untimed_events = [], [], [], []
    clock = 0
    for command, now, _ in played:
        clock = max(clock, now)
        if data.draw(st.booleans()):
            tick = ticked.apply(Tick(), clock)
            assert not isinstance(tick, Rejection)
            events += tick
        for target, log, answers in (
            (ticked, events, codes),
            (untimed, untimed_events, untimed_codes),
        ):
            result = target.apply(command, clock)
            answers.append(result.code if isinstance(result, Rejection) else 0)
            log += [] if isinstance(result, Rejection) else result
    assert codes == untimed_codes

    def decisions(log: list[Any]) -> list[Any]:
        closes = [(e.sold, e.winner, e.price) for e in log if isinstance(e, AuctionClosed)]
        return [e for e in log if isinstance(e, PriceAccepted | SealedBidPlaced)] + closes

    assert decisions(events) == decisions(untimed_events)


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_snapshot_restore_and_replay_give_same_hash(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type)
    events = accepted_events(played)
    assert book_type.from_events(book.terms, events).state_hash() == book.state_hash()
    wire = msgspec.json.encode(book.snapshot())
    restored = book_type.restore(msgspec.json.decode(wire, type=DutchSnapshot))
    assert restored.state_hash() == book.state_hash()
    assert restored.snapshot() == book.snapshot()


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_restored_book_continues_like_the_original(book_type: Any, data: st.DataObject) -> None:
    book, played = run_session(data, book_type, length=12, final_tick=False)
    wire = msgspec.msgpack.encode(book.snapshot())
    twin = book_type.restore(msgspec.msgpack.decode(wire, type=DutchSnapshot))
    now = max((n for _, n, _ in played), default=OPENS_AT)
    for _ in range(data.draw(st.integers(0, 12))):
        command, now = draw_command(data, book, now)
        assert twin.apply(command, now) == book.apply(command, now)
        assert twin.state_hash() == book.state_hash()
        now = max(now, 0)


@PROPERTY
@given(data=st.data())
def test_fast_and_reference_books_agree(data: st.DataObject) -> None:
    terms = data.draw(dutch_terms())
    fast, reference = DutchBook(terms), ReferenceDutchBook(terms)
    now = OPENS_AT - 500
    for bidder in BIDDERS[: data.draw(st.integers(0, 4))]:
        assert fast.apply(AdmitBidder(bidder), now) == reference.apply(AdmitBidder(bidder), now)
    for _ in range(data.draw(st.integers(0, 40))):
        command, now = draw_command(data, fast, now)
        assert fast.apply(command, now) == reference.apply(command, now)
        assert fast.state_hash() == reference.state_hash()
        assert fast.next_deadline() == reference.next_deadline()
        assert fast.phase is reference.phase()
        assert fast.price_at(now) == reference.price_at(now) == brute_price(terms, now)
        now = max(now, 0)
