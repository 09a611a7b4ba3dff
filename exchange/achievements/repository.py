from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from exchange.achievements.types import Achievement, Document
from exchange.infra.db import Conn

_COLUMNS = """a.id, a.owner_id, o.display_name AS owner_name, a.title, a.title_en, a.summary,
    a.summary_en, a.field, a.kind, a.ip_identifiers, a.inventors, a.funding_source, a.programme,
    a.maturity, a.appraised_value, a.currency, a.documents, a.created_at, a.updated_at"""


def _achievement(row: asyncpg.Record) -> Achievement:
    data = dict(row)
    data["documents"] = [msgspec.convert(d, Document) for d in data["documents"]]
    return msgspec.convert(data, Achievement, strict=False)


async def insert(conn: Conn, owner_id: int, values: dict[str, Any], now: datetime) -> int:
    new_id: int = await conn.fetchval(
        """INSERT INTO achievements (owner_id, title, title_en, summary, summary_en, field, kind,
               ip_identifiers, inventors, funding_source, programme, maturity, appraised_value,
               currency, documents, search_text, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)
           RETURNING id""",
        owner_id, values["title"], values["title_en"], values["summary"], values["summary_en"],
        values["field"], values["kind"], values["ip_identifiers"], values["inventors"],
        values["funding_source"], values["programme"], values["maturity"],
        values["appraised_value"], values["currency"], values["documents"],
        values["search_text"], now,
    )
    return new_id


async def update(conn: Conn, achievement_id: int, values: dict[str, Any], now: datetime) -> None:
    await conn.execute(
        """UPDATE achievements SET title = $2, title_en = $3, summary = $4, summary_en = $5,
               field = $6, kind = $7, ip_identifiers = $8, inventors = $9, funding_source = $10,
               programme = $11, maturity = $12, appraised_value = $13, currency = $14,
               documents = $15, search_text = $16, updated_at = $17
           WHERE id = $1""",
        achievement_id, values["title"], values["title_en"], values["summary"],
        values["summary_en"], values["field"], values["kind"], values["ip_identifiers"],
        values["inventors"], values["funding_source"], values["programme"], values["maturity"],
        values["appraised_value"], values["currency"], values["documents"],
        values["search_text"], now,
    )


async def get(conn: Conn, achievement_id: int, *, for_update: bool = False) -> Achievement | None:
    lock = " FOR UPDATE OF a" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM achievements a JOIN accounts o ON o.id = a.owner_id WHERE a.id = $1{lock}",
        achievement_id,
    )
    return _achievement(row) if row else None


async def of_owner(conn: Conn, owner_id: int) -> list[Achievement]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM achievements a JOIN accounts o ON o.id = a.owner_id
            WHERE a.owner_id = $1 ORDER BY a.id DESC""",
        owner_id,
    )
    return [_achievement(r) for r in rows]


async def has_open_listing(conn: Conn, achievement_id: int) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM listings WHERE achievement_id = $1 AND status IN (
               'submitted', 'announced', 'suspended', 'qualifying', 'unsold', 'agreement', 'competition'))
           OR EXISTS (SELECT 1 FROM agreements WHERE achievement_id = $1 AND status IN ('noticed', 'objected', 'cleared'))""",
        achievement_id,
    )
    return found
