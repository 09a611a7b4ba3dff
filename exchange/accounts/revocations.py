"""Revocations, announced to every process of the exchange at once.

A logout, or an API token's revocation, is announced with PostgreSQL's NOTIFY on the
`revocations` channel, in the transaction that records it. Every process listens on a
connection of its own: it forgets what it had read of the session or token, and a feed
gateway closes the websockets that came in with it. A process whose listening connection was
lost cannot know what it missed: when it listens again it forgets everything it had read and
checks its open websockets again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from exchange.infra.db import Conn
from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "revocations"
RETRY_S = (0.5, 1.0, 2.0, 5.0)


async def announce(conn: Conn, what: str, key: str) -> None:
    """`what` is "session" or "token"; delivered to every listener when the transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{what} {key}")


Revoked = Callable[[str, str], None]
"""Called with (what, key) of each revocation."""
Missed = Callable[[], Awaitable[None]]
"""Called when listening starts again after a gap: revocations may have been missed."""


class RevocationListener:
    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self.on_revoked: list[Revoked] = []
        self.on_missed: list[Missed] = []
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="revocations")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def _deliver(self, connection: object, pid: int, channel: str, payload: object) -> None:
        what, _, key = str(payload).partition(" ")
        for revoked in self.on_revoked:
            try:
                revoked(what, key)
            except Exception:
                log.exception("a listener of revocations failed on %r", payload)

    async def _run(self) -> None:
        failures = 0
        first = True
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._database_url, timeout=5,
                                             server_settings={"application_name": "exchange-revocations"})
                await conn.add_listener(CHANNEL, self._deliver)
                if not first:
                    for missed in self.on_missed:
                        await missed()
                first, failures = False, 0
                self.listening.set()
                while not conn.is_closed():  # asyncpg delivers notifications between these checks
                    await asyncio.sleep(1.0)
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), 5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - PostgreSQL restarting: listen again
                if failures == 0:
                    log.warning("not listening for revocations (%r); trying again", exc)
                failures += 1
            finally:
                self.listening.clear()
                if conn is not None:
                    conn.terminate()
            first = False
            await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
