"""SQL of problem tenders: the problem, its milestones and the steps taken on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.infra.db import Conn, update_row

PROBLEM = """p.*, t.owner_id, t.winner_id, t.status AS tender_status, t.reference_no, t.title AS tender_title,
    o.display_name AS owner_name, w.display_name AS solver_name"""
PROBLEM_FROM = """problem_tenders p JOIN tenders t ON t.id = p.tender_id JOIN accounts o ON o.id = t.owner_id
    LEFT JOIN accounts w ON w.id = t.winner_id"""


async def insert_problem(conn: Conn, values: dict[str, Any], milestones: list[dict[str, Any]]) -> bool:
    """False when the tender already has its problem."""
    done = await conn.fetchval(
        """INSERT INTO problem_tenders (tender_id, budget, currency, reference_code, status, created_at)
           VALUES ($1, $2, $3, $4, 'unfunded', $5) ON CONFLICT (tender_id) DO NOTHING RETURNING tender_id""",
        values["tender_id"], values["budget"], values["currency"], values["reference_code"], values["created_at"])
    if done is None:
        return False
    await conn.executemany(
        """INSERT INTO problem_milestones (tender_id, seq, title, criteria, share, due_on, status)
           VALUES ($1, $2, $3, $4, $5, $6, 'open')""",
        [(values["tender_id"], m["seq"], m["title"], m["criteria"], m["share"], m["due_on"]) for m in milestones])
    return True


async def problem(conn: Conn, tender_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF p" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {PROBLEM} FROM {PROBLEM_FROM} WHERE p.tender_id = $1{lock}", tender_id)
    return row


async def problems_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {PROBLEM} FROM {PROBLEM_FROM} WHERE {condition} ORDER BY p.tender_id DESC LIMIT {int(limit)}", *args)
    return rows


async def set_problem(conn: Conn, tender_id: int, **values: Any) -> None:
    await update_row(conn, "problem_tenders", {"tender_id": tender_id}, values)


async def milestones(conn: Conn, tender_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT m.*, po.status AS payout_status FROM problem_milestones m
           LEFT JOIN payouts po ON po.id = m.payout_id WHERE m.tender_id = $1 ORDER BY m.seq""", tender_id)
    return rows


async def milestone(conn: Conn, tender_id: int, seq: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM problem_milestones WHERE tender_id = $1 AND seq = $2 FOR UPDATE", tender_id, seq)
    return row


async def set_milestone(conn: Conn, tender_id: int, seq: int, **values: Any) -> None:
    await update_row(conn, "problem_milestones", {"tender_id": tender_id, "seq": seq}, values)


async def add_step(conn: Conn, tender_id: int, seq: int, step: str, actor_id: int, note: str, at: datetime) -> int:
    found: int = await conn.fetchval(
        """INSERT INTO problem_steps (tender_id, seq, step, actor_id, note, at) VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id""", tender_id, seq, step, actor_id, note, at)
    return found


async def steps(conn: Conn, tender_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT s.*, a.display_name AS actor_name FROM problem_steps s JOIN accounts a ON a.id = s.actor_id
           WHERE s.tender_id = $1 ORDER BY s.id""", tender_id)
    return rows
