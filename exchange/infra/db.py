"""The asyncpg pool and the transaction helper every repository uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# What repositories accept: a bare connection or one borrowed from the pool.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """Returning a connection to the pool costs no round trip: the exchange keeps no session
    state on pooled connections (no LISTEN, no cursor or SET outside a transaction, advisory
    locks only transaction-scoped but the migration lock, which is released explicitly); an
    open transaction is still rolled back by asyncpg before this runs.
    tests/unit/test_session_state.py keeps it so."""


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30,
        reset=_no_session_state,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    async with pool.acquire() as conn, conn.transaction():
        yield conn


async def update_row(conn: Conn, table: str, where: dict[str, Any], values: dict[str, Any]) -> None:
    """`UPDATE table SET <values> WHERE <where>`: names come from the code, values are parameters."""
    keys = list(where)
    conditions = " AND ".join(f"{name} = ${i}" for i, name in enumerate(keys, start=1))
    columns = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=len(keys) + 1))
    await conn.execute(f"UPDATE {table} SET {columns} WHERE {conditions}", *where.values(), *values.values())
