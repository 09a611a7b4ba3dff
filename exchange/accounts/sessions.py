"""Browser sessions kept in Redis: an opaque id in an HttpOnly cookie, a CSRF token inside."""

from __future__ import annotations

import secrets

import msgspec
import redis.asyncio as aioredis

SESSION_TTL_S = 12 * 3600


class Session(msgspec.Struct):
    id: str
    csrf: str
    account_id: int | None = None
    lang: str = ""
    flash: str = ""


class SessionStore:
    def __init__(self, redis: aioredis.Redis, ttl_s: int = SESSION_TTL_S) -> None:
        self._redis = redis
        self._ttl = ttl_s

    async def load(self, session_id: str | None) -> Session | None:
        if not session_id or len(session_id) > 64:
            return None
        raw = await self._redis.get(f"session:{session_id}")
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=Session)
        except msgspec.ValidationError:
            return None

    def new(self) -> Session:
        return Session(id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32))

    async def save(self, session: Session) -> None:
        await self._redis.set(f"session:{session.id}", msgspec.json.encode(session), ex=self._ttl)

    async def rotate(self, session: Session) -> Session:
        """A new id (and CSRF token) at login, so a planted session id is worthless."""
        await self.destroy(session)
        fresh = self.new()
        fresh.lang = session.lang
        return fresh

    async def destroy(self, session: Session) -> None:
        await self._redis.delete(f"session:{session.id}")
