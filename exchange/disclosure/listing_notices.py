"""The notices of a listing's period changing during its announcement (挂牌公告期变动): each
extension, suspension, resumption and approved change of terms, and the corrected listing
announcement an approved change publishes (the original announcement is never edited).

Each is built from the rows its service just wrote, in the same transaction."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import asyncpg

from exchange.disclosure import repository as chain
from exchange.disclosure.notices import listing_announcement
from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn

INTENTS_STAY = ("Intents registered before the change stay registered; an investor who no longer "
                "wishes to take part may withdraw before the period ends.")

_LISTING = """SELECT l.id, l.reference_no, l.status, l.announcement_start, l.announcement_end, l.announcement_wd,
       l.suspended_at, l.resume_by, l.suspension_reason, l.extensions, a.title, a.title_en,
       s.display_name AS seller
  FROM listings l JOIN achievements a ON a.id = l.achievement_id JOIN accounts s ON s.id = l.seller_id
 WHERE l.id = $1"""


async def _listing(conn: Conn, listing_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(_LISTING, listing_id)
    assert row is not None
    return row


def _notice(kind: Kind, row: asyncpg.Record, subject: str, now: datetime, body: dict[str, Any]) -> Notice:
    """Each notice is open until the end of the period as it now stands."""
    return Notice(kind=kind, procedure=row["reference_no"], subject=subject, published_at=now,
                  open_until=row["announcement_end"], body={
                      "item": {"reference_no": row["reference_no"], "title": row["title"], "title_en": row["title_en"]},
                      "seller": row["seller"],
                      "announcement": {"start": instant(row["announcement_start"]),
                                       "end": instant(row["announcement_end"]),
                                       "working_days": row["announcement_wd"]},
                  } | body)


async def _ordinal(conn: Conn, kind: Kind, procedure: str) -> int:
    """The number of this record among the procedure's records of its kind (1 for the first)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM disclosures WHERE kind = $1 AND procedure = $2 AND corrects IS NULL",
        kind.value, procedure)
    return count + 1


async def listing_extension(conn: Conn, listing_id: int, now: datetime, *, previous_end: datetime,
                            working_days: int, reopened: bool, reason: str) -> Notice:
    """延长挂牌公告: the new end of the period; `reopened` when an unsold listing is announced again."""
    row = await _listing(conn, listing_id)
    return _notice(Kind.LISTING_EXTENSION, row, f"{row['reference_no']}-EXT{row['extensions']}", now, {
        "extension": row["extensions"], "working_days": working_days, "previous_end": instant(previous_end),
        "new_end": instant(row["announcement_end"]), "reopened_after_no_buyer": reopened, "reason": reason,
    })


async def listing_suspension(conn: Conn, listing_id: int, now: datetime) -> Notice | None:
    """中止挂牌公告: why, since when, and when it resumes at the latest."""
    row = await _listing(conn, listing_id)
    if row["status"] != "suspended":
        return None
    number = await _ordinal(conn, Kind.LISTING_SUSPENSION, row["reference_no"])
    return _notice(Kind.LISTING_SUSPENSION, row, f"{row['reference_no']}-SUS{number}", now, {
        "suspension": number, "reason": row["suspension_reason"], "suspended_at": instant(row["suspended_at"]),
        "resume_by": instant(row["resume_by"]),
    })


async def listing_resumption(conn: Conn, listing_id: int, now: datetime, *, suspended_at: datetime,
                             resumed_at: datetime, previous_end: datetime, how: str) -> Notice:
    """恢复挂牌公告: the period runs again; its end moved later by the time it was suspended.
    `how`: operator, automatic (the month ran out) or change (an approved change restarted it)."""
    row = await _listing(conn, listing_id)
    number = await _ordinal(conn, Kind.LISTING_RESUMPTION, row["reference_no"])
    return _notice(Kind.LISTING_RESUMPTION, row, f"{row['reference_no']}-RES{number}", now, {
        "resumption": number, "how": how, "suspended_at": instant(suspended_at), "resumed_at": instant(resumed_at),
        "paused_seconds": int((resumed_at - suspended_at).total_seconds()), "previous_end": instant(previous_end),
        "new_end": instant(row["announcement_end"]),
    })


async def listing_change(conn: Conn, listing_id: int, change_id: int, now: datetime) -> Notice | None:
    """挂牌信息变更公告: the changed terms (before and after), the reasons and the restarted period."""
    change = await conn.fetchrow(
        "SELECT changes, reasons, status, decision_note FROM listing_changes WHERE id = $1 AND listing_id = $2",
        change_id, listing_id)
    if change is None or change["status"] != "approved":
        return None
    row = await _listing(conn, listing_id)
    return _notice(Kind.LISTING_CHANGE, row, f"{row['reference_no']}-CHG{change_id}", now, {
        "change": change_id, "changes": change["changes"], "reasons": change["reasons"],
        "operator_note": change["decision_note"], "period_restarted": True, "intents": INTENTS_STAY,
    })


async def corrected_announcement(conn: Conn, listing_id: int, change_id: int, now: datetime) -> Notice | None:
    """The listing announcement as it reads after an approved change: a new record that names
    the original announcement it corrects, open until the restarted period ends."""
    fresh = await listing_announcement(conn, listing_id, now)
    if fresh is None:
        return None
    original = await chain.published(conn, Kind.LISTING_ANNOUNCEMENT.value, fresh.subject)
    if original is None:
        return None
    return dataclasses.replace(fresh, corrects=original.seq, body=fresh.body | {
        "correction_reason": f"change {change_id} of the terms approved: the announcement period restarted"})
