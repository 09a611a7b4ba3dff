"""The quote round's SealedBook, rebuilt from its rows: the proposals' commitments in submission
order, the opening and the reveals. The rows are the record; the book decides (the round row is
locked by the caller, so one writer per round)."""

from __future__ import annotations

import asyncpg

from exchange.tenders.book import micros
from exchange.tenders.sealing import documents_digest
from matching_core.codes import Rejection
from matching_core.common import AdmitBidder
from matching_core.sealed import SealedBook
from matching_core.sealed_types import MAX_CANDIDATES as MAX_RANKED
from matching_core.sealed_types import (
    Direction,
    Evaluation,
    RevealProposal,
    SealedCommand,
    SealedEvent,
    SealedTerms,
    SubmitProposal,
)


class BookRefused(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.code.name.lower())
        self.code = rejection.code


def terms(round_: asyncpg.Record, listing_price: int, min_proposals: int) -> SealedTerms:
    """Highest price wins; nothing below the listing price; a weighted quote adds the panel's scores."""
    evaluation = Evaluation.WEIGHTED if round_["method"] == "weighted_quote" else Evaluation.PRICE
    return SealedTerms(opens_at=micros(round_["opens_at"]), deadline=micros(round_["deadline"]),
                       direction=Direction.HIGHEST_PRICE_WINS, evaluation=evaluation,
                       min_proposals=min_proposals, max_candidates=MAX_RANKED, price_limit=listing_price)


def apply(book: SealedBook, command: SealedCommand, at: int) -> list[SealedEvent]:
    result = book.apply(command, at)
    if isinstance(result, Rejection):
        raise BookRefused(result)
    return result


def rebuild(round_: asyncpg.Record, listing_price: int, min_proposals: int,
            proposals: list[asyncpg.Record]) -> SealedBook:
    """The book as the rows left it: every commitment; after the opening, every revealed quote."""
    book = SealedBook(terms(round_, listing_price, min_proposals))
    for p in proposals:
        at, name = micros(p["submitted_at"]), str(p["investor_id"])
        apply(book, AdmitBidder(name), at)
        apply(book, SubmitProposal(name, p["commitment"]), at)
    if round_["opened_at"] is not None:
        opened = micros(round_["opened_at"])
        book.tick(opened)
        for p in proposals:
            if p["revealed_at"] is not None:
                reveal = RevealProposal(str(p["investor_id"]), p["price"], documents_digest(p["plan"]), p["nonce"])
                apply(book, reveal, opened)
    return book
