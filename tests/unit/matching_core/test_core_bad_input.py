"""Bad terms and bad commands: every book answers with a rejection code, never an exception."""

from __future__ import annotations

from typing import Any

import pytest

from matching_core.codes import RejectCode, Rejection
from matching_core.common import AdmitBidder, IncrementBand, IncrementTable, Tick, fixed_increment
from matching_core.dutch import DutchBook
from matching_core.dutch_types import (
    AcceptPrice,
    DeclineMatch,
    DutchPhase,
    DutchTerms,
    MatchBestBid,
    SubmitSealedBid,
)
from matching_core.english import EnglishBook
from matching_core.english_types import EnglishTerms, PlaceBid, PlaceProxyBid
from matching_core.reference.dutch import ReferenceDutchBook
from matching_core.reference.english import ReferenceEnglishBook
from matching_core.reference.sealed import ReferenceSealedBook
from matching_core.sealed import SealedBook
from matching_core.sealed_types import (
    Direction,
    Evaluate,
    Evaluation,
    RevealProposal,
    SealedPhase,
    SealedTerms,
    SubmitProposal,
    TechnicalScore,
    proposal_commitment,
)

ENGLISH = EnglishTerms(
    100, fixed_increment(10), opens_at=1_000, scheduled_end=2_000, quiet_period=100
)
DUTCH = DutchTerms(
    1_000, 700, 100, interval=100, opens_at=1_000, insider=True, sealed_window=50, match_window=50
)
SEALED = SealedTerms(opens_at=1_000, deadline=2_000, min_proposals=1)
ALL_BOOKS = [
    (EnglishBook, ENGLISH), (ReferenceEnglishBook, ENGLISH),
    (DutchBook, DUTCH), (ReferenceDutchBook, DUTCH),
    (SealedBook, SEALED), (ReferenceSealedBook, SEALED),
]  # fmt: skip


def code(result: Any) -> RejectCode:
    assert isinstance(result, Rejection), result
    return result.code


@pytest.mark.parametrize(("book_type", "terms"), ALL_BOOKS)
@pytest.mark.parametrize("now", [-1, 2**63, 1.5, True, "1000", None])
def test_time_that_is_not_whole_microseconds_is_rejected(
    book_type: Any, terms: Any, now: Any
) -> None:
    assert code(book_type(terms).apply(Tick(), now)) is RejectCode.INVALID_TIME


FOREIGN = {
    EnglishTerms: [Evaluate(), AcceptPrice("b1"), SubmitProposal("b1", "ab" * 32)],
    DutchTerms: [Evaluate(), PlaceBid("b1", 100), SubmitProposal("b1", "ab" * 32)],
    SealedTerms: [AcceptPrice("b1"), PlaceBid("b1", 100), MatchBestBid("b1")],
}


@pytest.mark.parametrize(("book_type", "terms"), ALL_BOOKS)
def test_a_command_of_another_book_is_rejected(book_type: Any, terms: Any) -> None:
    book = book_type(terms)
    for command in ["bid", None, 42, *FOREIGN[type(terms)]]:
        assert code(book.apply(command, 1_500)) is RejectCode.INVALID_COMMAND


@pytest.mark.parametrize(("book_type", "terms"), ALL_BOOKS)
def test_tick_shortcut_and_bad_bidder_ids(book_type: Any, terms: Any) -> None:
    book = book_type(terms)
    assert book.tick(10) == []
    for bad in ("", "x" * 65, 7, None):
        assert code(book.apply(AdmitBidder(bad), 10)) is RejectCode.INVALID_BIDDER


@pytest.mark.parametrize("book_type", [EnglishBook, ReferenceEnglishBook])
def test_english_bids_with_bad_bidder_ids_are_rejected(book_type: Any) -> None:
    book = book_type(ENGLISH)
    for bad in ("", 5, "x" * 65):
        assert code(book.apply(PlaceBid(bad, 100), 1_500)) is RejectCode.INVALID_BIDDER
        assert code(book.apply(PlaceProxyBid(bad, 100), 1_500)) is RejectCode.INVALID_BIDDER


@pytest.mark.parametrize(
    "terms",
    [
        EnglishTerms(0, fixed_increment(10), 1, 2),
        EnglishTerms(100, fixed_increment(10), 1, 2, reserve=-5),
        EnglishTerms(100, fixed_increment(10), -1, 2),
        EnglishTerms(100, fixed_increment(10), 2, 2),
        EnglishTerms(100, fixed_increment(10), 1, 2, quiet_period=0),
        EnglishTerms(100, fixed_increment(10), 1, 5, hard_cap=4),
        EnglishTerms(100, fixed_increment(10), 1, 2**63 - 2, quiet_period=10),
        EnglishTerms(100, (), 1, 2),
        EnglishTerms(100, (IncrementBand(5, 10),), 1, 2),
        EnglishTerms(100, (IncrementBand(0, 10), IncrementBand(0, 20)), 1, 2),
        EnglishTerms(100, (IncrementBand(0, 0),), 1, 2),
    ],
)
@pytest.mark.parametrize("book_type", [EnglishBook, ReferenceEnglishBook])
def test_english_terms_that_make_no_sense_are_refused(book_type: Any, terms: EnglishTerms) -> None:
    with pytest.raises(ValueError):
        book_type(terms)


@pytest.mark.parametrize(
    "terms",
    [
        DutchTerms(0, 1, 1, 1, 1),
        DutchTerms(100, 200, 10, 1, 1),
        DutchTerms(100, 50, 10, 0, 1),
        DutchTerms(100, 50, 10, 1, 1, sealed_window=0),
        DutchTerms(100, 50, 10, 1, -1),
        DutchTerms(100, 50, 10, 1, 1, insider=1),  # type: ignore[arg-type]
        DutchTerms(100, 50, 10, 2**62, 1),
    ],
)
@pytest.mark.parametrize("book_type", [DutchBook, ReferenceDutchBook])
def test_dutch_terms_that_make_no_sense_are_refused(book_type: Any, terms: DutchTerms) -> None:
    with pytest.raises(ValueError):
        book_type(terms)


@pytest.mark.parametrize(
    "terms",
    [
        SealedTerms(opens_at=-1, deadline=5),
        SealedTerms(opens_at=5, deadline=5),
        SealedTerms(opens_at=1, deadline=5, direction=3),  # type: ignore[arg-type]
        SealedTerms(opens_at=1, deadline=5, evaluation=1),  # type: ignore[arg-type]
        SealedTerms(opens_at=1, deadline=5, min_proposals=0),
        SealedTerms(opens_at=1, deadline=5, max_candidates=4),
        SealedTerms(opens_at=1, deadline=5, price_limit=0),
    ],
)
@pytest.mark.parametrize("book_type", [SealedBook, ReferenceSealedBook])
def test_sealed_terms_that_make_no_sense_are_refused(book_type: Any, terms: SealedTerms) -> None:
    with pytest.raises(ValueError):
        book_type(terms)


@pytest.mark.parametrize("book_type", [DutchBook, ReferenceDutchBook])
def test_dutch_insider_round_walkthrough(book_type: Any) -> None:
    book = book_type(DUTCH)
    for bidder in ("b1", "b2", "b3"):
        book.apply(AdmitBidder(bidder), 0)
    accepted = book.apply(AcceptPrice("b1"), 1_250)
    assert not isinstance(accepted, Rejection) and accepted[0].price == 800
    assert book.next_deadline() == 1_300
    assert code(book.apply(SubmitSealedBid("b1", 900), 1_260)) is RejectCode.NOT_PERMITTED
    assert (
        code(book.apply(SubmitSealedBid("b2", 800), 1_260)) is RejectCode.NOT_ABOVE_ACCEPTED_PRICE
    )
    book.apply(SubmitSealedBid("b2", 900), 1_260)
    book.apply(SubmitSealedBid("b3", 900), 1_270)
    assert code(book.apply(SubmitSealedBid("b3", 950), 1_280)) is RejectCode.DUPLICATE_BID
    assert code(book.apply(AcceptPrice(5), 1_280)) is RejectCode.INVALID_BIDDER  # type: ignore[arg-type]
    offered = book.tick(1_300)
    assert not isinstance(offered, Rejection)
    assert (offered[0].best_bidder, offered[0].best_amount, offered[0].match_until) == (
        "b2",
        900,
        1_350,
    )
    assert book.next_deadline() == 1_350
    assert code(book.apply(MatchBestBid("b2"), 1_310)) is RejectCode.NOT_PERMITTED
    assert code(book.apply(DeclineMatch("b3"), 1_310)) is RejectCode.NOT_PERMITTED
    closed = book.apply(DeclineMatch("b1"), 1_320)
    assert not isinstance(closed, Rejection)
    assert (closed[0].winner, closed[0].price) == ("b2", 900)
    assert book.snapshot().phase is DutchPhase.CLOSED and book.next_deadline() is None
    if isinstance(book, DutchBook):
        assert book.code_of("b3") == "A003" and book.code_of("nobody") is None


@pytest.mark.parametrize("book_type", [SealedBook, ReferenceSealedBook])
def test_sealed_tender_walkthrough(book_type: Any) -> None:
    terms = SealedTerms(
        opens_at=1_000, deadline=2_000, direction=Direction.HIGHEST_PRICE_WINS,
        evaluation=Evaluation.WEIGHTED, min_proposals=2, price_limit=300,
    )  # fmt: skip
    book = book_type(terms)
    secrets = {"b1": 400, "b2": 500, "b3": 200}
    for bidder in secrets:
        book.apply(AdmitBidder(bidder), 0)
    for bidder, price in secrets.items():
        book.apply(SubmitProposal(bidder, proposal_commitment(bidder, price, "", "n")), 1_100)
    assert book.public_view().proposals == 3 and book.public_view().opened == []
    reveal = RevealProposal("b1", 400, "x" * 257, "n")
    assert code(book.apply(reveal, 2_000)) is RejectCode.INVALID_TEXT
    assert code(book.apply(RevealProposal(7, 400, "", "n"), 2_000)) is RejectCode.INVALID_BIDDER  # type: ignore[arg-type]
    for bidder, price in secrets.items():
        assert not isinstance(book.apply(RevealProposal(bidder, price, "", "n"), 2_001), Rejection)
    assert (
        code(book.apply(RevealProposal("b1", 400, "", "n"), 2_002)) is RejectCode.ALREADY_REVEALED
    )
    assert code(book.apply(Evaluate(3_000, "scores"), 2_003)) is RejectCode.INVALID_SCORES  # type: ignore[arg-type]
    bad_scores = [
        (TechnicalScore("b1", 1), TechnicalScore("b2", 1), TechnicalScore("b3", 10_001)),
        (TechnicalScore("b1", 1), TechnicalScore("b2", 1), TechnicalScore(3, 1)),
        (TechnicalScore("b1", 1), TechnicalScore("b2", 1), ("b3", 1)),
        (TechnicalScore("b1", 1), TechnicalScore("b1", 2), TechnicalScore("b2", 1)),
    ]
    for scores in bad_scores:
        assert code(book.apply(Evaluate(3_000, scores), 2_003)) is RejectCode.INVALID_SCORES  # type: ignore[arg-type]
    scores = (
        TechnicalScore("b1", 5_000),
        TechnicalScore("b2", 10_000),
        TechnicalScore("b3", 10_000),
    )
    ranked = book.apply(Evaluate(5_000, scores), 2_004)
    assert not isinstance(ranked, Rejection)
    # b2: 0.5 * 100 + 0.5 * 100 = 100; b1: 0.5 * 80 + 0.5 * 50 = 65; b3 is below the limit
    assert [(c.bidder, c.score) for c in ranked[0].candidates] == [("b2", 10_000), ("b1", 6_500)]
    assert ranked[0].excluded == ["b3"]
    assert book.public_view().phase is SealedPhase.RANKED
    assert book.next_deadline() is None
    if isinstance(book, SealedBook):
        assert book.phase is SealedPhase.RANKED
        assert book.candidates == ranked[0].candidates
        assert (
            book.code_of("b1") == "A001"
            and book.receipt("b1") == book.snapshot().proposals[0].commitment
        )
        assert book.receipt("nobody") is None


@pytest.mark.parametrize("book_type", [EnglishBook, ReferenceEnglishBook])
def test_english_leader_raising_a_maximum_must_stay_on_the_grid(book_type: Any) -> None:
    terms = EnglishTerms(100, fixed_increment(10), 1_000, 2_000, quiet_period=100, hard_cap=2_050)
    book = book_type(terms)
    assert book.next_deadline() == 2_050  # the hard cap comes before one full quiet period
    book.apply(AdmitBidder("b1"), 0)
    book.apply(PlaceProxyBid("b1", 150), 1_100)
    assert book.leader == "b1"
    assert code(book.apply(PlaceProxyBid("b1", 165), 1_101)) is RejectCode.NOT_WHOLE_INCREMENT
    assert not isinstance(book.apply(PlaceProxyBid("b1", 170), 1_102), Rejection)
    if isinstance(book, EnglishBook):
        assert book.code_of("b1") == "A001"


def test_increment_table_finds_the_band_of_a_price() -> None:
    table = IncrementTable((IncrementBand(0, 10), IncrementBand(200, 25), IncrementBand(400, 50)))
    assert [table.step_at(p) for p in (0, 199, 200, 399, 400, 10**9)] == [10, 10, 25, 25, 50, 50]


@pytest.mark.parametrize("book_type", [SealedBook, ReferenceSealedBook])
def test_equal_scores_rank_the_better_price_then_the_earlier_proposal(book_type: Any) -> None:
    terms = SealedTerms(
        opens_at=1_000, deadline=2_000, evaluation=Evaluation.WEIGHTED, min_proposals=1
    )
    book = book_type(terms)
    secrets = {"late": 100, "dear": 200, "early": 100}
    for bidder in ("early", "dear", "late"):
        book.apply(AdmitBidder(bidder), 0)
    for at, bidder in enumerate(("early", "dear", "late")):
        commitment = proposal_commitment(bidder, secrets[bidder], "", "n")
        book.apply(SubmitProposal(bidder, commitment), 1_100 + at)
    for bidder, price in secrets.items():
        book.apply(RevealProposal(bidder, price, "", "n"), 2_000)
    scores = (TechnicalScore("early", 0), TechnicalScore("dear", 5_000), TechnicalScore("late", 0))
    # every total is 5000: 0.5 * 100 + 0.5 * 0 == 0.5 * 50 + 0.5 * 50
    ranked = book.apply(Evaluate(5_000, scores), 2_001)
    assert not isinstance(ranked, Rejection)
    assert [(c.bidder, c.score) for c in ranked[0].candidates] == [
        ("early", 5_000), ("late", 5_000), ("dear", 5_000),
    ]  # fmt: skip
    restored = book_type.restore(book.snapshot())
    assert restored.public_view() == book.public_view()
    assert code(restored.apply(Evaluate(), 2_002)) is RejectCode.WRONG_PHASE


@pytest.mark.parametrize("book_type", [SealedBook, ReferenceSealedBook])
def test_lowest_price_evaluation_takes_no_technical_scores(book_type: Any) -> None:
    book = book_type(SEALED)
    book.apply(AdmitBidder("b1"), 0)
    book.apply(SubmitProposal("b1", proposal_commitment("b1", 70, "", "n")), 1_500)
    book.apply(RevealProposal("b1", 70, "", "n"), 2_000)
    scored = Evaluate(10_000, (TechnicalScore("b1", 1),))
    assert code(book.apply(scored, 2_001)) is RejectCode.INVALID_SCORES
    assert code(book.apply(Evaluate(9_000), 2_001)) is RejectCode.INVALID_WEIGHT
    ranked = book.apply(Evaluate(), 2_001)
    assert not isinstance(ranked, Rejection) and ranked[0].candidates[0].score == 10_000
