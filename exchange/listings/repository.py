from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from exchange.infra.db import Conn
from exchange.listings.types import Listing, ListingStatus, ReviewRecord

COLUMNS = """l.id, l.reference_no, l.achievement_id, l.seller_id, o.display_name AS seller_name,
    l.status, a.title, a.title_en, a.summary, a.summary_en, a.field, a.kind, a.ip_identifiers,
    a.inventors, a.funding_source, a.programme, a.maturity, a.appraised_value, l.listing_price,
    l.currency, l.deposit, l.transfer_mode, l.terms, l.bidder_conditions, l.competitive_method,
    l.announcement_wd AS announcement_working_days, l.submitted_at, l.reviewed_at,
    l.return_reasons, l.announcement_start, l.announcement_end, l.price_weight_bp, l.qualification_due,
    l.outcome_at, l.agreement_due, l.relisted_from, l.below_floor_approved_by"""
FROM = "listings l JOIN achievements a ON a.id = l.achievement_id JOIN accounts o ON o.id = l.seller_id"


def to_listing(row: asyncpg.Record) -> Listing:
    return msgspec.convert(dict(row), Listing, strict=False)


async def next_reference(conn: Conn, now: datetime) -> str:
    seq: int = await conn.fetchval("SELECT nextval('listing_reference_seq')")
    return f"TT{now.year}{seq:06d}"


async def insert(conn: Conn, values: dict[str, Any]) -> int:
    new_id: int = await conn.fetchval(
        """INSERT INTO listings (reference_no, achievement_id, seller_id, status, listing_price,
               currency, deposit, transfer_mode, terms, bidder_conditions, competitive_method,
               announcement_wd, submitted_at, search_text, price_weight_bp, relisted_from)
           VALUES ($1, $2, $3, 'submitted', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           RETURNING id""",
        values["reference_no"], values["achievement_id"], values["seller_id"],
        values["listing_price"], values["currency"], values["deposit"], values["transfer_mode"],
        values["terms"], values["bidder_conditions"], values["competitive_method"],
        values["announcement_wd"], values["submitted_at"], values["search_text"],
        values["price_weight_bp"], values.get("relisted_from"),
    )
    return new_id


async def resubmit(conn: Conn, listing_id: int, values: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE listings SET status = 'submitted', listing_price = $2, deposit = $3,
               transfer_mode = $4, terms = $5, bidder_conditions = $6, competitive_method = $7,
               announcement_wd = $8, submitted_at = $9, search_text = $10, price_weight_bp = $11
           WHERE id = $1""",
        listing_id, values["listing_price"], values["deposit"], values["transfer_mode"],
        values["terms"], values["bidder_conditions"], values["competitive_method"],
        values["announcement_wd"], values["submitted_at"], values["search_text"], values["price_weight_bp"],
    )


async def get(conn: Conn, listing_id: int, *, for_update: bool = False) -> Listing | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE l.id = $1{lock}", listing_id)
    return to_listing(row) if row else None


async def of_seller(conn: Conn, seller_id: int) -> list[Listing]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM {FROM} WHERE l.seller_id = $1 ORDER BY l.id DESC", seller_id)
    return [to_listing(r) for r in rows]


async def with_status(conn: Conn, status: ListingStatus) -> list[Listing]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {FROM} WHERE l.status = $1 ORDER BY l.submitted_at, l.id", status.value
    )
    return [to_listing(r) for r in rows]


async def buyers(conn: Conn, listing_id: int, deposit: int) -> list[int]:
    """The listing's buyers, in registration order: investors qualified in its procedure whose
    deposit was paid in time (held, whatever became of it since); every qualified investor when
    the listing asks no deposit. The outcome rule, the quotes and the auction count these."""
    rows = await conn.fetch(
        """SELECT i.investor_id FROM listing_intents i WHERE i.listing_id = $1 AND i.status = 'qualified'
             AND ($2 = 0 OR EXISTS (SELECT 1 FROM deposits d WHERE d.listing_id = i.listing_id
                  AND d.investor_id = i.investor_id AND d.status NOT IN ('due', 'lapsed')))
           ORDER BY i.registered_at, i.id""", listing_id, deposit)
    return [row["investor_id"] for row in rows]


async def has_intents(conn: Conn, listing_id: int) -> bool:
    """Whether investors registered intent (意向登记) that is not withdrawn: the listing is then
    sold through its procedure."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM listing_intents WHERE listing_id = $1 AND status <> 'withdrawn')", listing_id)
    return found


async def set_status(conn: Conn, listing_id: int, status: ListingStatus) -> None:
    await conn.execute("UPDATE listings SET status = $2 WHERE id = $1", listing_id, status.value)


async def record_review(
    conn: Conn, *, listing_id: int, operator_id: int, decision: str, reasons: str,
    now: datetime, announcement: tuple[datetime, datetime] | None, below_floor_approved: bool = False,
) -> None:
    start, end = announcement if announcement else (None, None)
    await conn.execute(
        """UPDATE listings SET status = $2, reviewed_at = $3, reviewed_by = $4, return_reasons = $5,
               announcement_start = $6, announcement_end = $7,
               below_floor_approved_by = CASE WHEN $8 THEN $4 ELSE below_floor_approved_by END
           WHERE id = $1""",
        listing_id, "announced" if decision == "approve" else "returned", now, operator_id,
        reasons, start, end, below_floor_approved,
    )
    await conn.execute(
        """INSERT INTO listing_reviews (listing_id, operator_id, decision, reasons, decided_at)
           VALUES ($1, $2, $3, $4, $5)""",
        listing_id, operator_id, decision, reasons, now,
    )


async def reviews(conn: Conn, listing_id: int) -> list[ReviewRecord]:
    rows = await conn.fetch(
        """SELECT r.decision, r.reasons, o.display_name AS operator_name, r.decided_at
           FROM listing_reviews r JOIN accounts o ON o.id = r.operator_id
           WHERE r.listing_id = $1 ORDER BY r.id""",
        listing_id,
    )
    return [ReviewRecord(**dict(r)) for r in rows]
