"""The sequencer's connections outlive the server ending them (an administrator, a connection
pooler's restart, an idle-session timeout): the next batch takes a fresh connection. Found by
`exchange chaos --faults postgres-drop`: every batch failed with 'connection has been released
back to the pool' until the engine was restarted (13,529 bids answered 503 in 20 s)."""

from __future__ import annotations

import asyncio

import asyncpg

from exchange.auctions.commands import BatchWrite
from exchange.auctions.repository import PostgresBatchStore


async def _end_every_other_session(database_url: str) -> int:
    admin = await asyncpg.connect(database_url)
    try:
        ended: int = await admin.fetchval(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()""")
        return ended
    finally:
        await admin.close()


async def test_batches_are_written_again_after_the_server_ended_the_sequencers_connections(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    store = PostgresBatchStore(pool)
    try:
        await store.write(BatchWrite())
        assert await store.answers([(1, "nobody's key")]) == {}
        assert await _end_every_other_session(database_url) >= 2  # the writer's and the reader's

        await asyncio.sleep(0.3)  # asyncpg sees the connections close and detaches them
        for _ in range(3):
            await store.write(BatchWrite())
            assert await store.answers([(1, "nobody's key")]) == {}
    finally:
        await store.close()
        await pool.close()
