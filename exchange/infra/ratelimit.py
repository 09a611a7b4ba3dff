"""Fixed-window counters in Redis."""

from __future__ import annotations

import redis.asyncio as aioredis

from exchange.errors import RateLimited


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def check(self, key: str, limit: int, window_s: int) -> None:
        raw = await self._redis.get(f"rl:{key}")
        if raw is not None and int(raw) >= limit:
            ttl = await self._redis.ttl(f"rl:{key}")
            raise RateLimited(
                f"too many attempts; try again in {max(ttl, 1)} seconds", retry_after=max(ttl, 1)
            )

    async def hit(self, key: str, window_s: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            # The window starts at the first failure; later hits do not extend it.
            pipe.set(f"rl:{key}", 0, ex=window_s, nx=True)
            pipe.incr(f"rl:{key}")
            _, count = await pipe.execute()
        return int(count)

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"rl:{key}")
