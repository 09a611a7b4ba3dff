"""The engine lock: one auction engine at a time writes the books.

The engine takes a PostgreSQL advisory lock on a connection of its own before it rebuilds a
book, keeps the connection for as long as it runs, and records its link address in
`engine_endpoints` for the gateways. A second engine started against the same database waits
for the lock (it takes over when the first one's connection is gone: PostgreSQL releases the
lock of a dead session). If the engine loses its lock connection it must stop at once: another
engine may take the lock and start writing. (Fencing every batch with a lease token, so that
even a paused engine cannot write after losing its lock, comes with engine shards.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime

import asyncpg

from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

ENGINE_LOCK_KEY = 7_304_114_437
ENDPOINT = "auctions"
CHECK_S = 1.0
CHECK_TIMEOUT_S = 3.0


class EngineLease:
    def __init__(self, database_url: str, name: str = ENDPOINT) -> None:
        self._database_url = database_url
        self.name = name
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Waits for the engine lock (logging who holds it) and keeps it."""
        conn = await asyncpg.connect(self._database_url, server_settings={"application_name": "exchange-engine-lock"})
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ENGINE_LOCK_KEY):
                holder = await conn.fetchrow("SELECT address, host, pid FROM engine_endpoints WHERE name = $1",
                                             self.name)
                log.warning("another auction engine holds the engine lock (%s); waiting for it",
                            dict(holder) if holder else "address unknown")
                await conn.execute("SELECT pg_advisory_lock($1)", ENGINE_LOCK_KEY)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        log.info("this process holds the engine lock")

    async def publish(self, address: str, now: datetime) -> None:
        assert self._conn is not None, "acquire the lock first"
        await self._conn.execute(
            """INSERT INTO engine_endpoints (name, address, host, pid, started_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (name) DO UPDATE SET address = $2, host = $3, pid = $4, started_at = $5""",
            self.name, address, socket.gethostname(), os.getpid(), now)

    def watch(self, lost: Callable[[], None]) -> None:
        """Calls `lost` once if the lock's connection stops answering."""
        self._watch = asyncio.create_task(self._check(lost), name="engine-lease")

    async def _check(self, lost: Callable[[], None]) -> None:
        assert self._conn is not None
        while True:
            await asyncio.sleep(CHECK_S)
            try:
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), CHECK_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means the lock may be gone
                log.critical("the engine lock's connection failed (%r): this engine stops", exc)
                lost()
                return

    async def release(self) -> None:
        await cancel_and_wait(self._watch)
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # noqa: BLE001 - closing the session releases the lock either way
                conn.terminate()


async def engine_address(pool: asyncpg.Pool, name: str = ENDPOINT) -> str:
    """The link address the engine recorded (gateways look it up at every connection)."""
    async with pool.acquire() as conn:
        address: str | None = await conn.fetchval("SELECT address FROM engine_endpoints WHERE name = $1", name)
    if address is None:
        raise ConnectionError("no auction engine has started yet")
    return address
