"""SQL of the auctions: terms and outcome rows, bidders, the event log, idempotency answers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from exchange.auctions.commands import BatchWrite, KeyTaken
from exchange.auctions.lot import LotInfo, Recorded
from exchange.auctions.types import from_micros, to_micros
from exchange.infra.db import Conn
from matching_core.common import IncrementBand
from matching_core.english_types import EnglishTerms

log = logging.getLogger(__name__)

COLUMNS = """a.id, a.listing_id, a.currency, a.start_price, a.reserve, a.increments, a.opens_at,
    a.scheduled_end, a.quiet_period_s, a.hard_cap, a.status, a.next_deadline, a.last_seq,
    a.state_hash, a.sold, a.winner_id, a.price, a.closed_at, a.created_at,
    l.reference_no, l.seller_id, ach.title, ach.title_en"""
FROM = "auctions a JOIN listings l ON l.id = a.listing_id JOIN achievements ach ON ach.id = l.achievement_id"


def terms_of(row: asyncpg.Record) -> EnglishTerms:
    return EnglishTerms(
        start_price=row["start_price"],
        increments=tuple(IncrementBand(b["from_price"], b["step"]) for b in row["increments"]),
        opens_at=to_micros(row["opens_at"]),
        scheduled_end=to_micros(row["scheduled_end"]),
        quiet_period=row["quiet_period_s"] * 1_000_000,
        reserve=row["reserve"],
        hard_cap=None if row["hard_cap"] is None else to_micros(row["hard_cap"]),
    )


def info_of(row: asyncpg.Record) -> LotInfo:
    return LotInfo(
        id=row["id"], listing_id=row["listing_id"], seller_id=row["seller_id"],
        currency=row["currency"].strip(), title=row["title"], title_en=row["title_en"],
        reference_no=row["reference_no"], terms=terms_of(row),
    )


async def insert(conn: Conn, values: dict[str, Any]) -> int:
    new_id: int = await conn.fetchval(
        """INSERT INTO auctions (listing_id, currency, start_price, reserve, increments, opens_at,
               scheduled_end, quiet_period_s, hard_cap, status, next_deadline, state_hash,
               scheduled_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'scheduled', $6, $10, $11, $12)
           RETURNING id""",
        values["listing_id"], values["currency"], values["start_price"], values["reserve"],
        values["increments"], values["opens_at"], values["scheduled_end"], values["quiet_period_s"],
        values["hard_cap"], values["state_hash"], values["scheduled_by"], values["created_at"],
    )
    return new_id


async def get(conn: Conn, auction_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(f"SELECT {COLUMNS} FROM {FROM} WHERE a.id = $1", auction_id)
    return row


async def sold_before(conn: Conn, listing_id: int) -> bool:
    """Sold at an auction whose sale stands: a sale forfeited and relisted by the operator
    (see exchange/settlement) no longer counts."""
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM auctions a WHERE a.listing_id = $1 AND a.sold
               AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.auction_id = a.id AND t.next_step = 'relist'))""",
        listing_id)
    return found


async def live(conn: Conn) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {COLUMNS} FROM {FROM} WHERE a.status <> 'closed' ORDER BY a.id"
    )
    return rows


async def listing(
    conn: Conn, statuses: Iterable[str], *, listing_id: int | None, limit: int, offset: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT {COLUMNS} FROM {FROM}
            WHERE a.status = ANY($1::text[]) AND ($2::bigint IS NULL OR a.listing_id = $2)
            ORDER BY a.opens_at DESC, a.id DESC LIMIT $3 OFFSET $4""",
        list(statuses), listing_id, limit, offset,
    )
    return rows


async def qualified_for(conn: Conn, account_id: int, limit: int) -> list[int]:
    """The auctions an investor may bid in, newest first."""
    ids: list[int] = [r["auction_id"] for r in await conn.fetch(
        """SELECT b.auction_id FROM auction_bidders b JOIN auctions a ON a.id = b.auction_id
           WHERE b.account_id = $1 ORDER BY a.opens_at DESC, a.id DESC LIMIT $2""",
        account_id, limit,
    )]
    return ids


def _recorded(row: asyncpg.Record) -> Recorded:
    return Recorded(row["auction_id"], row["seq"], row["kind"], row["payload"],
                    to_micros(row["recorded_at"]))


async def events_of(conn: Conn, auction_ids: list[int]) -> dict[int, list[Recorded]]:
    rows = await conn.fetch(
        """SELECT auction_id, seq, kind, payload, recorded_at FROM auction_events
           WHERE auction_id = ANY($1::bigint[]) ORDER BY auction_id, seq""",
        auction_ids,
    )
    found: dict[int, list[Recorded]] = {auction_id: [] for auction_id in auction_ids}
    for row in rows:
        found[row["auction_id"]].append(_recorded(row))
    return found


async def events_after(conn: Conn, auction_id: int, seq: int, limit: int | None) -> list[Recorded]:
    """The lot's events after `seq`, at most `limit` of them (None: all)."""
    rows = await conn.fetch(
        """SELECT auction_id, seq, kind, payload, recorded_at FROM auction_events
           WHERE auction_id = $1 AND seq > $2 ORDER BY seq LIMIT $3""",
        auction_id, seq, limit,
    )
    return [_recorded(row) for row in rows]


async def events_since(conn: Conn, after: list[tuple[int, int]]) -> dict[int, list[Recorded]]:
    """For each (auction id, seq), the auction's events after that seq, in one query."""
    rows = await conn.fetch(
        """SELECT e.auction_id, e.seq, e.kind, e.payload, e.recorded_at
           FROM unnest($1::bigint[], $2::bigint[]) AS k(auction_id, seq)
           JOIN auction_events e ON e.auction_id = k.auction_id AND e.seq > k.seq
           ORDER BY e.auction_id, e.seq""",
        [a for a, _ in after], [s for _, s in after],
    )
    found: dict[int, list[Recorded]] = {}
    for row in rows:
        found.setdefault(row["auction_id"], []).append(_recorded(row))
    return found


async def rows(conn: Conn, auction_ids: list[int]) -> list[asyncpg.Record]:
    found: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {COLUMNS} FROM {FROM} WHERE a.id = ANY($1::bigint[]) ORDER BY a.id", auction_ids)
    return found


async def bidder(conn: Conn, auction_id: int, account_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT code, approved_at FROM auction_bidders WHERE auction_id = $1 AND account_id = $2",
        auction_id, account_id,
    )
    return row


async def bidders(conn: Conn, auction_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT b.account_id, b.code, b.approved_at, a.display_name, a.email
           FROM auction_bidders b JOIN accounts a ON a.id = b.account_id
           WHERE b.auction_id = $1 ORDER BY b.code""",
        auction_id,
    )
    return rows


async def account_name(conn: Conn, account_id: int) -> str | None:
    name: str | None = await conn.fetchval("SELECT display_name FROM accounts WHERE id = $1", account_id)
    return name


async def find_requests(
    conn: Conn, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], tuple[str, dict[str, Any]]]:
    rows = await conn.fetch(
        """SELECT r.account_id, r.idempotency_key, r.request_hash, r.response
           FROM bid_requests r
           JOIN unnest($1::bigint[], $2::text[]) AS k(account_id, idempotency_key)
             ON r.account_id = k.account_id AND r.idempotency_key = k.idempotency_key""",
        [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(r["account_id"], r["idempotency_key"]): (r["request_hash"], r["response"]) for r in rows}


def _json(value: dict[str, Any]) -> str:
    return msgspec.json.encode(value).decode()


def _at(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


_WRITE_BATCH = """
WITH events AS (
    INSERT INTO auction_events (auction_id, seq, kind, payload, recorded_at)
    SELECT a, s, k, p::jsonb, r
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[]) AS u(a, s, k, p, r)
), bidders AS (
    INSERT INTO auction_bidders (auction_id, account_id, code, approved_by, approved_at)
    SELECT * FROM unnest($6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $10::timestamptz[])
), requests AS (
    INSERT INTO bid_requests (account_id, idempotency_key, auction_id, request_hash, response, created_at)
    SELECT a, k, l, h, r::jsonb, c
    FROM unnest($11::bigint[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::timestamptz[])
         AS u(a, k, l, h, r, c)
)
UPDATE auctions a SET last_seq = u.last_seq, state_hash = u.state_hash,
    next_deadline = u.next_deadline, status = u.status, sold = u.sold,
    winner_id = u.winner_id, price = u.price, closed_at = u.closed_at
FROM unnest($17::bigint[], $18::bigint[], $19::text[], $20::timestamptz[], $21::text[],
            $22::boolean[], $23::bigint[], $24::bigint[], $25::timestamptz[])
     AS u(id, last_seq, state_hash, next_deadline, status, sold, winner_id, price, closed_at)
WHERE a.id = u.id
"""


async def write_batch(conn: Conn, batch: BatchWrite) -> None:
    """The whole batch in ONE statement, hence one atomic transaction and one round trip."""
    events, bidders, requests, lots = batch.events, batch.bidders, batch.requests, batch.lots
    await conn.execute(
        _WRITE_BATCH,
        [e.lot for e in events], [e.seq for e in events], [e.kind for e in events],
        [_json(e.payload) for e in events], [from_micros(e.at) for e in events],
        [b[0] for b in bidders], [b[1] for b in bidders], [b[2] for b in bidders],
        [b[3] for b in bidders], [from_micros(b[4]) for b in bidders],
        [r[0] for r in requests], [r[1] for r in requests], [r[2] for r in requests],
        [r[3] for r in requests], [_json(r[4]) for r in requests], [from_micros(r[5]) for r in requests],
        [r["id"] for r in lots], [r["last_seq"] for r in lots], [r["state_hash"] for r in lots],
        [_at(r["next_deadline"]) for r in lots], [r["status"] for r in lots],
        [r["sold"] for r in lots], [r["winner_id"] for r in lots], [r["price"] for r in lots],
        [_at(r["closed_at"]) for r in lots],
    )


def _usable(conn: PoolConnectionProxy[asyncpg.Record] | None) -> bool:
    """Held and open. A connection the server ended (an administrator, a pooler's restart, an idle
    timeout) is closed by asyncpg, which hands it back to the pool and detaches our proxy: asking
    the proxy anything then raises, and the sequencer must take a fresh connection, not fail on it
    batch after batch."""
    if conn is None:
        return False
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


class PostgresBatchStore:
    """The sequencer's own connections (one writes, one reads keys back when one is refused),
    kept between batches; each dropped and replaced after an error.

    A batch is one statement, so it commits (synchronous_commit on: durably) or not at all.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: PoolConnectionProxy[asyncpg.Record] | None = None
        self._read_conn: PoolConnectionProxy[asyncpg.Record] | None = None

    async def _connection(self) -> PoolConnectionProxy[asyncpg.Record]:
        if not _usable(self._conn):
            self._conn = await self._pool.acquire()
        assert self._conn is not None
        return self._conn

    async def close(self) -> None:
        """Both connections back to the pool (the sequencer has stopped)."""
        read, self._read_conn = self._read_conn, None
        if read is not None:
            await self._release(read)
        await self._close_writer()

    async def _close_writer(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await self._release(conn)

    async def _release(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        try:
            await self._pool.release(conn, timeout=5)
        except Exception as exc:  # a broken connection: the pool replaces it
            log.warning("sequencer connection not released cleanly: %r", exc)

    async def write(self, batch: BatchWrite) -> None:
        conn = await self._connection()
        try:
            await write_batch(conn, batch)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "bid_requests_pkey":
                raise KeyTaken(exc.detail) from exc
            await self._close_writer()
            raise
        except Exception:
            await self._close_writer()
            raise

    async def answers(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], tuple[str, dict[str, Any]]]:
        """On a connection of its own, so the writer's stays ready for the next batch."""
        if not _usable(self._read_conn):
            self._read_conn = await self._pool.acquire()
        assert self._read_conn is not None
        try:
            return await find_requests(self._read_conn, keys)
        except Exception:
            conn, self._read_conn = self._read_conn, None
            await self._release(conn)
            raise
