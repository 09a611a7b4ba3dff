"""SQL of quote rounds: the listing they sell, the round and its sealed proposals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.infra.db import Conn, update_row
from exchange.listings import repository as listings

LISTING = """SELECT l.id, l.reference_no, l.status, l.seller_id, l.listing_price, l.currency, l.deposit,
       l.competitive_method, l.price_weight_bp, ach.title, ach.title_en, s.display_name AS seller_name
  FROM listings l JOIN achievements ach ON ach.id = l.achievement_id JOIN accounts s ON s.id = l.seller_id
 WHERE l.id = $1"""


async def listing(conn: Conn, listing_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(LISTING + (" FOR UPDATE OF l" if for_update else ""), listing_id)
    return row


async def set_listing_status(conn: Conn, listing_id: int, status: str) -> None:
    await update_row(conn, "listings", {"id": listing_id}, {"status": status})


async def round_of(conn: Conn, listing_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT * FROM quote_rounds WHERE listing_id = $1{lock}", listing_id)
    return row


async def insert_round(conn: Conn, values: dict[str, Any]) -> None:
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    await conn.execute(f"INSERT INTO quote_rounds ({columns}) VALUES ({params})", *values.values())


async def set_round(conn: Conn, round_id: int, **values: Any) -> None:
    await update_row(conn, "quote_rounds", {"id": round_id}, values)


async def due_rounds(conn: Conn, now: datetime) -> list[int]:
    rows = await conn.fetch(
        "SELECT listing_id FROM quote_rounds WHERE status = 'collecting' AND deadline <= $1 ORDER BY id", now)
    return [row["listing_id"] for row in rows]


async def insert_proposal(conn: Conn, values: dict[str, Any]) -> None:
    await conn.execute(
        """INSERT INTO quote_proposals (round_id, investor_id, commitment, sealed, request_mac, submitted_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        values["round_id"], values["investor_id"], values["commitment"], values["sealed"], values["request_mac"],
        values["submitted_at"])


async def proposal_of(conn: Conn, round_id: int, investor_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM quote_proposals WHERE round_id = $1 AND investor_id = $2", round_id, investor_id)
    return row


async def proposals(conn: Conn, round_id: int) -> list[asyncpg.Record]:
    """In submission order, each with its bidder's name."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT p.*, a.display_name AS bidder_name FROM quote_proposals p JOIN accounts a ON a.id = p.investor_id
           WHERE p.round_id = $1 ORDER BY p.seq""", round_id)
    return rows


async def reveal(conn: Conn, round_id: int, investor_id: int, price: int, plan: str, nonce: str,
                 now: datetime) -> None:
    await conn.execute(
        """UPDATE quote_proposals SET price = $3, plan = $4, nonce = $5, revealed_at = $6
           WHERE round_id = $1 AND investor_id = $2""", round_id, investor_id, price, plan, nonce, now)


async def rank(conn: Conn, round_id: int, investor_id: int, **values: Any) -> None:
    await update_row(conn, "quote_proposals", {"round_id": round_id, "investor_id": investor_id}, values)


async def eligible_buyers(conn: Conn, listing: asyncpg.Record) -> set[int]:
    """The listing's buyers (its procedure's qualified buyers who paid the deposit in time)."""
    return set(await listings.buyers(conn, listing["id"], listing["deposit"]))
