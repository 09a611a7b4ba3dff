"""Browser sessions: an opaque id in an HttpOnly cookie, a CSRF token inside, the record in
PostgreSQL (so sessions outlive a Redis outage).

Each process trusts a session it has read for KNOWN_FOR_S, so a browser's requests do not
each cost a read; a logout deletes the record and announces it (exchange/accounts/revocations.py),
and every process forgets the session at once.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from datetime import timedelta

import asyncpg
import msgspec

from exchange.accounts import revocations
from exchange.clock import Clock

SESSION_TTL_S = 12 * 3600
KNOWN_FOR_S = 5.0
KNOWN_KEPT = 20_000


class Session(msgspec.Struct):
    id: str
    csrf: str
    account_id: int | None = None
    lang: str = ""
    flash: str = ""


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, ttl_s: int = SESSION_TTL_S) -> None:
        self._pool = pool
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._known: OrderedDict[str, tuple[Session, float]] = OrderedDict()

    async def load(self, session_id: str | None) -> Session | None:
        if not session_id or not 20 <= len(session_id) <= 64:
            return None
        known = self._known.get(session_id)
        if known is not None and time.monotonic() - known[1] <= KNOWN_FOR_S:
            return msgspec.structs.replace(known[0])
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT id, csrf, account_id, lang, flash FROM sessions WHERE id = $1 AND expires_at > $2",
                session_id, self._clock.now())
        if row is None:
            self._known.pop(session_id, None)
            return None
        session = Session(**dict(row))
        self._remember(session)
        return msgspec.structs.replace(session)

    def new(self) -> Session:
        return Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))

    async def save(self, session: Session) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO sessions (id, csrf, account_id, lang, flash, expires_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (id) DO UPDATE SET csrf = $2, account_id = $3, lang = $4, flash = $5,
                       expires_at = $6""",
                session.id, session.csrf, session.account_id, session.lang, session.flash,
                self._clock.now() + self._ttl)
        self._remember(session)

    async def rotate(self, session: Session) -> Session:
        """A new id (and CSRF token) at login, so a planted session id is worthless."""
        await self.destroy(session)
        fresh = self.new()
        fresh.lang = session.lang
        return fresh

    async def destroy(self, session: Session) -> None:
        self._known.pop(session.id, None)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM sessions WHERE id = $1", session.id)
            await revocations.announce(conn, "session", session.id)

    async def purge(self) -> int:
        """Deletes expired sessions (a periodic pass)."""
        async with self._pool.acquire() as conn:
            status = await conn.execute("DELETE FROM sessions WHERE expires_at <= $1", self._clock.now())
        return int(status.split()[-1])

    def forget(self, session_id: str | None = None) -> None:
        """What this process read of a session (or of every one) is no longer trusted."""
        if session_id is None:
            self._known.clear()
        else:
            self._known.pop(session_id, None)

    def _remember(self, session: Session) -> None:
        self._known[session.id] = (msgspec.structs.replace(session), time.monotonic())
        self._known.move_to_end(session.id)
        while len(self._known) > KNOWN_KEPT:
            self._known.popitem(last=False)
