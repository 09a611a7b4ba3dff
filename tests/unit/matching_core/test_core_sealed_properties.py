"""One property suite for the sealed book (quotes and tenders), run on both implementations."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching_core.codes import RejectCode, Rejection
from matching_core.common import AdmitBidder, Tick
from matching_core.reference.sealed import ReferenceSealedBook
from matching_core.sealed import SealedBook
from matching_core.sealed_types import (
    Direction,
    Evaluate,
    Evaluation,
    OpeningCancelled,
    ProposalRevealed,
    ProposalsOpened,
    ProposalsRanked,
    RevealProposal,
    SealedPhase,
    SealedSnapshot,
    SealedTerms,
    SubmitProposal,
    TechnicalScore,
    proposal_commitment,
)

PROPERTY = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
BOOKS = [SealedBook, ReferenceSealedBook]
BIDDERS = ["b1", "b2", "b3", "b4", "b5"]
OPENS_AT = 1_000_000
DEADLINE = OPENS_AT + 10_000


def nonce(bidder: str) -> str:
    return f"secret-nonce-of-{bidder}"


@st.composite
def sealed_terms(draw: st.DrawFn) -> SealedTerms:
    return SealedTerms(
        opens_at=OPENS_AT,
        deadline=DEADLINE,
        direction=draw(st.sampled_from(Direction)),
        evaluation=draw(st.sampled_from(Evaluation)),
        min_proposals=draw(st.sampled_from([1, 2, 3, 3])),
        max_candidates=draw(st.sampled_from([1, 2, 3, 3])),
        price_limit=draw(st.sampled_from([None, None, 500])),
    )


class Plan(msgspec.Struct):
    """The secret content of each bidder's proposal, fixed before the session."""

    prices: dict[str, int]
    documents: dict[str, str]


def draw_plan(data: st.DataObject) -> Plan:
    prices = {b: data.draw(st.sampled_from([100, 250, 400, 450, 500, 501, 900])) for b in BIDDERS}
    documents = {b: data.draw(st.sampled_from(["", f"sha256-docs-{b}"])) for b in BIDDERS}
    return Plan(prices, documents)


KINDS = {
    SealedPhase.COLLECTING: ["submit"] * 6 + ["reveal", "evaluate", "admit", "tick"],
    SealedPhase.OPENED: ["reveal"] * 6 + ["evaluate", "submit", "admit", "tick"],
}


def draw_command(data: st.DataObject, book: Any, plan: Plan, now: int) -> tuple[Any, int]:
    """A command shaped by the book's state, so that most sessions reach a ranking."""
    snapshot = book.snapshot()
    now += data.draw(st.sampled_from([0, 1, 200, 500, 1_000, 1_500, 4_000, -1]))
    phase = snapshot.phase
    if phase is SealedPhase.COLLECTING and now >= DEADLINE:
        phase = SealedPhase.OPENED
    kind = data.draw(st.sampled_from(KINDS.get(phase, ["reveal", "evaluate", "tick"])))
    likely = snapshot.bidders
    if kind == "reveal":
        likely = [p.bidder for p in snapshot.proposals if not p.revealed] or BIDDERS
    bidder = data.draw(st.sampled_from([*likely, *likely, *BIDDERS, "ghost", ""]))
    price, documents = plan.prices.get(bidder, 1), plan.documents.get(bidder, "")
    if kind == "admit":
        return AdmitBidder(bidder), now
    if kind == "tick":
        return Tick(), now
    if kind == "submit":
        good = proposal_commitment(bidder, price, documents, nonce(bidder))
        commitment = data.draw(st.sampled_from([good] * 5 + ["ab" * 31, good.upper(), 7]))
        return SubmitProposal(bidder, commitment), now
    if kind == "reveal":
        price = data.draw(st.sampled_from([price] * 5 + [price + 1, 0, True, 2**63]))
        secret = data.draw(st.sampled_from([nonce(bidder)] * 5 + ["", "x" * 300, None]))
        return RevealProposal(bidder, price, documents, secret), now  # type: ignore[arg-type]
    revealed = [p.bidder for p in snapshot.proposals if p.revealed]
    weighted = book.terms.evaluation is Evaluation.WEIGHTED
    weight = data.draw(
        st.sampled_from([3_000, 10_000, 999, 10_001, 1.0])
        if weighted
        else st.sampled_from([10_000, 10_000, 9_000])
    )
    scores = tuple(
        TechnicalScore(b, data.draw(st.sampled_from([0, 6_000, 9_000, 10_000]))) for b in revealed
    )
    if not weighted:
        scores = ()
    scores = data.draw(
        st.sampled_from(
            [
                scores,
                scores,
                scores,
                scores[1:],
                (*scores, TechnicalScore("ghost", 1)),
                (TechnicalScore("b1", -1),),
            ]
        )
    )
    return Evaluate(weight, scores), now  # type: ignore[arg-type]


def run_session(
    data: st.DataObject, book_type: Any, length: int = 40, final_tick: bool = True
) -> tuple[Any, Plan, list[Any]]:
    book = book_type(data.draw(sealed_terms()))
    plan = draw_plan(data)
    now = OPENS_AT - 100
    played = []
    for bidder in data.draw(st.lists(st.sampled_from(BIDDERS), max_size=5, unique=True)):
        played.append((AdmitBidder(bidder), now, book.apply(AdmitBidder(bidder), now)))
    for _ in range(data.draw(st.integers(0, length))):
        command, now = draw_command(data, book, plan, now)
        played.append((command, now, book.apply(command, now)))
        now = max(now, 0)
    if final_tick:
        final = max(now, DEADLINE)
        played.append((Tick(), final, book.apply(Tick(), final)))
    return book, plan, played


def accepted_events(played: list[Any]) -> list[Any]:
    return [e for _, _, result in played if not isinstance(result, Rejection) for e in result]


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_nothing_is_readable_before_the_opening(book_type: Any, data: st.DataObject) -> None:
    book = book_type(data.draw(sealed_terms()))
    plan = draw_plan(data)
    now = OPENS_AT - 100
    for _ in range(data.draw(st.integers(0, 40))):
        command, now = draw_command(data, book, plan, now)
        result = book.apply(command, now)
        now = max(now, 0)
        if book.snapshot().phase is not SealedPhase.COLLECTING:
            break
        if isinstance(command, RevealProposal) and now < DEADLINE:
            assert isinstance(result, Rejection)
            assert result.code in (
                RejectCode.WRONG_PHASE,
                RejectCode.INVALID_TIME,
                RejectCode.STALE_TIME,
            )
        view = book.public_view()
        assert view.opened == [] and view.candidates == []
        snapshot = book.snapshot()
        assert all(
            not p.revealed and p.price == 0 and p.documents == "" for p in snapshot.proposals
        )
        wire = msgspec.msgpack.encode(snapshot) + msgspec.msgpack.encode(view)
        for bidder in BIDDERS:
            assert nonce(bidder).encode() not in wire
            assert plan.documents[bidder].encode() not in wire or plan.documents[bidder] == ""


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_fewer_than_the_minimum_means_no_opening(book_type: Any, data: st.DataObject) -> None:
    book, _, played = run_session(data, book_type)
    events = accepted_events(played)
    committed = sum(1 for e in events if type(e).__name__ == "ProposalCommitted")
    outcome = [e for e in events if isinstance(e, OpeningCancelled | ProposalsOpened)]
    assert len(outcome) == 1
    assert outcome[0].at >= DEADLINE and outcome[0].proposals == committed
    if committed < book.terms.min_proposals:
        assert isinstance(outcome[0], OpeningCancelled)
        assert not any(isinstance(e, ProposalRevealed | ProposalsRanked) for e in events)
        assert book.snapshot().phase is SealedPhase.CANCELLED
    else:
        assert isinstance(outcome[0], ProposalsOpened)


def brute_force_ranking(
    terms: SealedTerms, revealed: list[Any], weight: int, scores: dict[str, int]
) -> list[tuple[str, int, int]]:
    """Every eligible proposal scored, ranked by comparing each pair: a proposal's rank is
    1 + the number of proposals better than it."""
    lowest = terms.direction is Direction.LOWEST_PRICE_WINS
    limit = terms.price_limit
    eligible = [
        p for p in revealed if limit is None or (p.price <= limit if lowest else p.price >= limit)
    ]
    if not eligible:
        return []
    best = min(p.price for p in eligible) if lowest else max(p.price for p in eligible)
    scored = []
    for order, p in enumerate(eligible):
        part = 10_000 * best // p.price if lowest else 10_000 * p.price // best
        total = (weight * part + (10_000 - weight) * scores.get(p.bidder, 0)) // 10_000
        scored.append((p.bidder, p.price, total, order))

    def beats(a: Any, b: Any) -> bool:
        better_price = a[1] < b[1] if lowest else a[1] > b[1]
        return a[2] > b[2] or (a[2] == b[2] and (better_price or (a[1] == b[1] and a[3] < b[3])))

    ranked = sorted(scored, key=lambda a: sum(beats(b, a) for b in scored))
    return [(b, price, total) for b, price, total, _ in ranked[: terms.max_candidates]]


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_ranking_matches_brute_force(book_type: Any, data: st.DataObject) -> None:
    book, plan, played = run_session(data, book_type)
    revealed: list[Any] = []
    for command, _, result in played:
        if isinstance(result, Rejection):
            continue
        for event in result:
            if isinstance(event, ProposalRevealed):
                assert event.price == plan.prices[event.bidder]
                revealed.append(event)
            if isinstance(event, ProposalsRanked):
                scores = {s.bidder: s.score for s in command.technical_scores}
                expected = brute_force_ranking(book.terms, revealed, command.price_weight, scores)
                got = [(c.bidder, c.price, c.score) for c in event.candidates]
                assert got == expected
                assert [c.rank for c in event.candidates] == list(range(1, len(got) + 1))
                assert len(got) <= 3
                view = book.public_view()
                assert view.candidates == event.candidates
                assert {o.bidder for o in view.opened} == {r.bidder for r in revealed}


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_outcome_is_independent_of_when_the_timer_fires(
    book_type: Any, data: st.DataObject
) -> None:
    """Whether or not the host ticks before a command, every command gets the same answer."""
    book, _, played = run_session(data, book_type)
    untimed, ticked = book_type(book.terms), book_type(book.terms)
    clock = 0
    untimed_log, ticked_log, untimed_codes, ticked_codes = [], [], [], []
    for command, now, _ in played:
        clock = max(clock, now)
        if data.draw(st.booleans()):
            tick = ticked.apply(Tick(), clock)
            assert not isinstance(tick, Rejection)
            ticked_log += tick
        for target, log, codes in (
            (ticked, ticked_log, ticked_codes),
            (untimed, untimed_log, untimed_codes),
        ):
            result = target.apply(command, clock)
            codes.append(result.code if isinstance(result, Rejection) else 0)
            log += [] if isinstance(result, Rejection) else result
    assert ticked_codes == untimed_codes

    def decisions(log: list[Any]) -> list[Any]:
        return [
            (type(e).__name__, getattr(e, "bidder", ""), getattr(e, "candidates", None))
            for e in log
        ]

    assert decisions(ticked_log) == decisions(untimed_log)


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_snapshot_restore_and_replay_give_same_hash(book_type: Any, data: st.DataObject) -> None:
    book, _, played = run_session(data, book_type, final_tick=data.draw(st.booleans()))
    events = accepted_events(played)
    assert book_type.from_events(book.terms, events).state_hash() == book.state_hash()
    wire = msgspec.json.encode(book.snapshot())
    restored = book_type.restore(msgspec.json.decode(wire, type=SealedSnapshot))
    assert restored.state_hash() == book.state_hash()
    assert restored.snapshot() == book.snapshot()
    assert restored.public_view() == book.public_view()


@pytest.mark.parametrize("book_type", BOOKS)
@PROPERTY
@given(data=st.data())
def test_restored_book_continues_like_the_original(book_type: Any, data: st.DataObject) -> None:
    book, plan, played = run_session(data, book_type, length=15, final_tick=False)
    wire = msgspec.msgpack.encode(book.snapshot())
    twin = book_type.restore(msgspec.msgpack.decode(wire, type=SealedSnapshot))
    now = max((n for _, n, _ in played), default=OPENS_AT)
    for _ in range(data.draw(st.integers(0, 15))):
        command, now = draw_command(data, book, plan, now)
        assert twin.apply(command, now) == book.apply(command, now)
        assert twin.state_hash() == book.state_hash()
        now = max(now, 0)


@PROPERTY
@given(data=st.data())
def test_fast_and_reference_books_agree(data: st.DataObject) -> None:
    terms = data.draw(sealed_terms())
    plan = draw_plan(data)
    fast, reference = SealedBook(terms), ReferenceSealedBook(terms)
    now = OPENS_AT - 100
    for bidder in BIDDERS[: data.draw(st.integers(0, 5))]:
        assert fast.apply(AdmitBidder(bidder), now) == reference.apply(AdmitBidder(bidder), now)
    for _ in range(data.draw(st.integers(0, 50))):
        command, now = draw_command(data, fast, plan, now)
        assert fast.apply(command, now) == reference.apply(command, now)
        assert fast.state_hash() == reference.state_hash()
        assert fast.next_deadline() == reference.next_deadline()
        assert fast.public_view() == reference.public_view()
        now = max(now, 0)
