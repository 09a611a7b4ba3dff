"""Fixed-window counters in Redis, counted and checked in one atomic step.

`take` counts an attempt, or refuses it (429, not counted) when the window already holds
`limit`: under many concurrent attempts exactly `limit` pass, never more. A window starts at
its first attempt; later attempts do not extend it. `give_back` uncounts an attempt that turned
out not to count (a login whose password was right, against a limit on wrong ones): counted
while in flight, a right password frees its place.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from exchange.errors import RateLimited

_TAKE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return math.max(redis.call('TTL', KEYS[1]), 1)
end
return -1
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, limit: int, window_s: int) -> None:
        """Counts one attempt; RateLimited if that puts the window over `limit`."""
        wait = int(await self._take(keys=[f"rl:{key}"], args=[limit, window_s]))
        if wait >= 0:
            raise RateLimited(f"too many attempts; try again in {max(wait, 1)} seconds",
                              retry_after=max(wait, 1))

    async def give_back(self, key: str) -> None:
        await self._redis.decr(f"rl:{key}")

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"rl:{key}")
