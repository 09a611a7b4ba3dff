"""SQL of tenders: the tender, its event log, proposals, securities, questions and scores."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.infra.db import Conn, update_row

TENDER = """t.*, o.display_name AS owner_name"""
TENDER_FROM = """tenders t JOIN accounts o ON o.id = t.owner_id"""
SECURITY = """s.*, b.display_name AS bidder_name, t.reference_no, t.title"""
SECURITY_FROM = """tender_securities s JOIN accounts b ON b.id = s.bidder_id JOIN tenders t ON t.id = s.tender_id"""


async def next_reference(conn: Conn, now: datetime) -> str:
    seq: int = await conn.fetchval("SELECT nextval('tender_reference_seq')")
    return f"ZB{now.year}{seq:06d}"


async def insert_tender(conn: Conn, values: dict[str, Any]) -> int:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    found: int = await conn.fetchval(
        f"INSERT INTO tenders ({columns}) VALUES ({params}) RETURNING id", *values.values())
    return found


async def tender(conn: Conn, tender_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF t" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(f"SELECT {TENDER} FROM {TENDER_FROM} WHERE t.id = $1{lock}",
                                                     tender_id)
    return row


async def tenders_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {TENDER} FROM {TENDER_FROM} WHERE {condition} ORDER BY t.id DESC LIMIT {int(limit)}", *args)
    return rows


async def set_tender(conn: Conn, tender_id: int, **values: Any) -> None:
    await update_row(conn, "tenders", {"id": tender_id}, values)


# -- the sealed book's events ------------------------------------------------------------

async def events(conn: Conn, tender_id: int) -> list[str]:
    rows = await conn.fetch("SELECT body::text AS body FROM tender_events WHERE tender_id = $1 ORDER BY seq",
                            tender_id)
    return [row["body"] for row in rows]


async def append_events(conn: Conn, tender_id: int, bodies: list[str], at: datetime) -> None:
    last: int = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM tender_events WHERE tender_id = $1",
                                    tender_id)
    await conn.executemany(
        "INSERT INTO tender_events (tender_id, seq, body, at) VALUES ($1, $2, $3::text::jsonb, $4)",
        [(tender_id, last + i, body, at) for i, body in enumerate(bodies, start=1)])


# -- proposals ---------------------------------------------------------------------------

async def insert_proposal(conn: Conn, values: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO tender_proposals (tender_id, bidder_id, commitment, sealed, idempotency_key,
               request_mac, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        values["tender_id"], values["bidder_id"], values["commitment"], values["sealed"],
        values["idempotency_key"], values["request_mac"], values["submitted_at"])


async def proposal_of(conn: Conn, tender_id: int, bidder_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM tender_proposals WHERE tender_id = $1 AND bidder_id = $2", tender_id, bidder_id)
    return row


async def proposals(conn: Conn, tender_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT p.*, a.display_name AS bidder_name FROM tender_proposals p JOIN accounts a ON a.id = p.bidder_id
           WHERE p.tender_id = $1 ORDER BY p.submitted_at, p.id""", tender_id)
    return rows


async def reveal_proposal(conn: Conn, proposal_id: int, price: int, technical: str, nonce: str,
                          now: datetime) -> None:
    await conn.execute(
        "UPDATE tender_proposals SET price = $2, technical = $3, nonce = $4, revealed_at = $5 WHERE id = $1",
        proposal_id, price, technical, nonce, now)


# -- securities --------------------------------------------------------------------------

async def insert_security(conn: Conn, values: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO tender_securities (tender_id, bidder_id, amount, currency, reference_code, status, created_at)
           VALUES ($1, $2, $3, $4, $5, 'due', $6) ON CONFLICT (tender_id, bidder_id) DO NOTHING""",
        values["tender_id"], values["bidder_id"], values["amount"], values["currency"],
        values["reference_code"], values["created_at"])


async def securities_where(conn: Conn, condition: str, *args: Any, for_update: bool = False,
                           limit: int = 500) -> list[asyncpg.Record]:
    lock = " FOR UPDATE OF s" if for_update else ""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {SECURITY} FROM {SECURITY_FROM} WHERE {condition} ORDER BY s.id LIMIT {int(limit)}{lock}", *args)
    return rows


async def set_security(conn: Conn, security_id: int, **values: Any) -> None:
    await update_row(conn, "tender_securities", {"id": security_id}, values)


# -- questions, objections and scores -------------------------------------------------------

async def insert_question(conn: Conn, values: dict[str, Any]) -> int:
    found: int = await conn.fetchval(
        """INSERT INTO tender_questions (tender_id, author_id, kind, stage, body, asked_at, answer_due)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
        values["tender_id"], values["author_id"], values["kind"], values["stage"], values["body"],
        values["asked_at"], values["answer_due"])
    return found


async def questions(conn: Conn, tender_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT q.*, a.display_name AS author_name FROM tender_questions q JOIN accounts a ON a.id = q.author_id
           WHERE q.tender_id = $1 ORDER BY q.id""", tender_id)
    return rows


async def unanswered_objections(conn: Conn, tender_id: int) -> int:
    found: int = await conn.fetchval(
        """SELECT count(*) FROM tender_questions WHERE tender_id = $1 AND stage = 'candidates'
           AND answer IS NULL""", tender_id)
    return found


async def put_scores(conn: Conn, tender_id: int, member: int, scores: dict[int, int], now: datetime) -> None:
    await conn.executemany(
        """INSERT INTO tender_scores (tender_id, member, bidder_id, score, scored_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tender_id, member, bidder_id) DO UPDATE SET score = EXCLUDED.score,
               scored_at = EXCLUDED.scored_at""",
        [(tender_id, member, bidder, score, now) for bidder, score in scores.items()])


async def scores(conn: Conn, tender_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT member, bidder_id, score FROM tender_scores WHERE tender_id = $1 ORDER BY member, bidder_id",
        tender_id)
    return rows
