"""SQL of agreement-pricing notices and the objections filed against them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.infra.db import Conn, update_row

AGREEMENT = """g.*, ach.title, ach.title_en, ach.appraised_value, s.display_name AS seller_name,
    b.display_name AS buyer_name, tr.id AS trade_id,
    (SELECT count(*) FROM agreement_objections o WHERE o.agreement_id = g.id AND o.outcome IS NULL) AS open_objections"""
AGREEMENT_FROM = """agreements g JOIN achievements ach ON ach.id = g.achievement_id
    JOIN accounts s ON s.id = g.seller_id JOIN accounts b ON b.id = g.buyer_id
    LEFT JOIN trades tr ON tr.agreement_id = g.id"""
OPEN_LISTING = ("submitted", "announced", "suspended", "qualifying", "unsold", "agreement", "competition")


async def next_reference(conn: Conn, now: datetime) -> str:
    seq: int = await conn.fetchval("SELECT nextval('agreement_reference_seq')")
    return f"AP{now.year}{seq:06d}"


async def insert_agreement(conn: Conn, values: dict[str, Any]) -> int:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    found: int = await conn.fetchval(
        f"INSERT INTO agreements ({columns}) VALUES ({params}) RETURNING id", *values.values())
    return found


async def agreement(conn: Conn, agreement_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF g" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {AGREEMENT} FROM {AGREEMENT_FROM} WHERE g.id = $1{lock}", agreement_id)
    return row


async def agreements_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {AGREEMENT} FROM {AGREEMENT_FROM} WHERE {condition} ORDER BY g.id DESC LIMIT {int(limit)}", *args)
    return rows


async def set_agreement(conn: Conn, agreement_id: int, **values: Any) -> None:
    await update_row(conn, "agreements", {"id": agreement_id}, values)


async def has_open_listing(conn: Conn, achievement_id: int) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM listings WHERE achievement_id = $1 AND status = ANY($2::text[]))",
        achievement_id, list(OPEN_LISTING))
    return found


async def has_open_agreement(conn: Conn, achievement_id: int) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM agreements WHERE achievement_id = $1
           AND status IN ('noticed', 'objected', 'cleared'))""", achievement_id)
    return found


# -- objections ----------------------------------------------------------------------------

async def insert_objection(conn: Conn, agreement_id: int, objector_id: int, grounds: str, now: datetime) -> int:
    found: int = await conn.fetchval(
        """INSERT INTO agreement_objections (agreement_id, objector_id, grounds, filed_at)
           VALUES ($1, $2, $3, $4) RETURNING id""", agreement_id, objector_id, grounds, now)
    return found


async def objections(conn: Conn, agreement_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT o.*, a.display_name AS objector_name FROM agreement_objections o
           JOIN accounts a ON a.id = o.objector_id WHERE o.agreement_id = $1 ORDER BY o.id""", agreement_id)
    return rows


async def objection(conn: Conn, agreement_id: int, objection_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM agreement_objections WHERE id = $1 AND agreement_id = $2 FOR UPDATE",
        objection_id, agreement_id)
    return row


async def open_objection_of(conn: Conn, agreement_id: int, objector_id: int) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM agreement_objections WHERE agreement_id = $1 AND objector_id = $2
           AND outcome IS NULL)""", agreement_id, objector_id)
    return found


async def open_objections(conn: Conn, agreement_id: int) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM agreement_objections WHERE agreement_id = $1 AND outcome IS NULL", agreement_id)
    return found


async def answer_objection(conn: Conn, objection_id: int, outcome: str, answer: str, staff_id: int,
                           now: datetime) -> None:
    await update_row(conn, "agreement_objections", {"id": objection_id},
                     {"outcome": outcome, "answer": answer, "answered_by": staff_id, "answered_at": now})
