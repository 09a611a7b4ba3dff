"""The asyncio shell's side of matching_core's SealedBook: terms from a tender row, the book
rebuilt from its event log, commands applied and their events appended in the caller's
transaction (the tender row is locked by the caller, so one writer per tender)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from exchange.infra.db import Conn
from exchange.tenders import repository as repo
from exchange.tenders.types import TenderRules
from matching_core.codes import Rejection
from matching_core.sealed import SealedBook
from matching_core.sealed_types import Evaluation, SealedCommand, SealedEvent, SealedTerms

_decoder = msgspec.json.Decoder(SealedEvent)


def micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def terms(tender: asyncpg.Record, rules: TenderRules) -> SealedTerms:
    evaluation = Evaluation.WEIGHTED if tender["evaluation"] == "weighted" else Evaluation.PRICE
    return SealedTerms(opens_at=micros(tender["documents_issued_at"]), deadline=micros(tender["deadline"]),
                       evaluation=evaluation, min_proposals=rules.min_proposals,
                       max_candidates=rules.max_candidates)


async def load(conn: Conn, tender: asyncpg.Record, rules: TenderRules) -> SealedBook:
    bodies = await repo.events(conn, tender["id"])
    return SealedBook.from_events(terms(tender, rules), (_decoder.decode(body) for body in bodies))


async def apply(conn: Conn, tender_id: int, book: SealedBook, command: SealedCommand,
                now: datetime) -> list[SealedEvent] | Rejection:
    """Applies one command and appends the events it produced."""
    result = book.apply(command, micros(now))
    if not isinstance(result, Rejection) and result:
        await repo.append_events(conn, tender_id, [msgspec.json.encode(e).decode() for e in result], now)
    return result
