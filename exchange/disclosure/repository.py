"""SQL of the disclosure chain: the append lock, the head, inserts and the public reads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg

from exchange.disclosure.types import Record
from exchange.infra.db import Conn

# Any fixed number shared by every process that appends to this database's chain.
CHAIN_LOCK_KEY = 7_304_114_422
COLUMNS = "seq, kind, procedure, subject, published_at, open_until, corrects, body, prev_hash, hash"


def record_of(row: asyncpg.Record) -> Record:
    return Record(
        seq=row["seq"], kind=row["kind"], procedure=row["procedure"], subject=row["subject"],
        published_at=row["published_at"], open_until=row["open_until"], corrects=row["corrects"],
        body=row["body"], prev_hash=row["prev_hash"], hash=row["hash"],
    )


async def lock_chain(conn: Conn) -> None:
    """Held until the caller's transaction ends: one appender at a time, so the chain never forks."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK_KEY)


async def head(conn: Conn) -> tuple[int, str] | None:
    row = await conn.fetchrow("SELECT seq, hash FROM disclosures ORDER BY seq DESC LIMIT 1")
    return None if row is None else (row["seq"], row["hash"])


async def published(conn: Conn, kind: str, subject: str) -> Record | None:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM disclosures WHERE kind = $1 AND subject = $2 AND corrects IS NULL", kind, subject)
    return None if row is None else record_of(row)


async def insert(conn: Conn, record: Record) -> None:
    await conn.execute(
        f"INSERT INTO disclosures ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        record.seq, record.kind, record.procedure, record.subject, record.published_at, record.open_until,
        record.corrects, record.body, record.prev_hash, record.hash,
    )


async def get(conn: Conn, seq: int) -> Record | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM disclosures WHERE seq = $1", seq)
    return None if row is None else record_of(row)


async def corrections_of(conn: Conn, seq: int) -> list[Record]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM disclosures WHERE corrects = $1 ORDER BY seq", seq)
    return [record_of(r) for r in rows]


async def page(
    conn: Conn, *, after: int = 0, before: int | None = None, limit: int, kind: str | None = None,
    procedure: str | None = None, newest_first: bool = False,
) -> list[Record]:
    """Records in seq order after `after` (or newest first below `before`), optionally of one kind
    and one procedure (matched on the procedure or the subject: a trade or certificate number)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM disclosures
            WHERE seq > $1 AND ($2::bigint IS NULL OR seq < $2) AND ($3::text IS NULL OR kind = $3)
              AND ($4::text IS NULL OR procedure = $4 OR subject = $4)
            ORDER BY seq {"DESC" if newest_first else "ASC"} LIMIT $5""",
        after, before, kind, procedure, limit,
    )
    return [record_of(r) for r in rows]


async def of_procedure(conn: Conn, procedure: str) -> list[Record]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM disclosures WHERE procedure = $1 ORDER BY seq", procedure)
    return [record_of(r) for r in rows]


async def latest_result(conn: Conn, auction_id: int) -> Record | None:
    """The auction's published outcome as it stands: its deal announcement (first round) or
    failure notice, or the latest correction of either."""
    row = await conn.fetchrow(
        f"""SELECT {COLUMNS} FROM disclosures
            WHERE kind IN ('deal_announcement', 'auction_failed') AND body ->> 'auction_id' = $1::bigint::text
              AND coalesce(body ->> 'round', '1') = '1'
            ORDER BY seq DESC LIMIT 1""",
        auction_id,
    )
    return None if row is None else record_of(row)


async def each(conn: Conn, batch: int = 500) -> AsyncIterator[Record]:
    """The whole chain in seq order, read with a cursor (the caller holds a transaction)."""
    async for row in conn.cursor(f"SELECT {COLUMNS} FROM disclosures ORDER BY seq", prefetch=batch):
        yield record_of(row)

