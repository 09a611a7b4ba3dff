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


_SLOWED = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local free = tonumber(ARGV[1])
if count >= free then
  local wait = math.min(2 ^ (count - free) * 1000, tonumber(ARGV[2]))
  local left = tonumber(redis.call('GET', KEYS[2]) or '0') + wait - now
  if left > 0 then return math.ceil(left / 1000) end
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], now, 'EX', ARGV[3])
return -1
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._slowed = redis.register_script(_SLOWED)

    async def take(self, key: str, limit: int, window_s: int) -> None:
        """Counts one attempt; RateLimited if that puts the window over `limit`."""
        wait = int(await self._take(keys=[f"rl:{key}"], args=[limit, window_s]))
        if wait >= 0:
            raise RateLimited(f"too many attempts; try again in {max(wait, 1)} seconds",
                              retry_after=max(wait, 1))

    async def take_slowed(self, key: str, free: int, longest_s: int, window_s: int) -> None:
        """Counts one attempt. Past `free` attempts in the window, each must wait after the one
        before it, twice as long each time (1 s, 2 s, 4 s, ... at most `longest_s`): an attacker is
        slowed to a crawl, the rightful owner waits seconds, never the whole window."""
        wait = int(await self._slowed(keys=[f"rl:{key}", f"rl:{key}:last"], args=[free, longest_s * 1000, window_s]))
        if wait >= 0:
            raise RateLimited(f"too many wrong passwords; try again in {wait} seconds", retry_after=wait)

    async def give_back(self, key: str) -> None:
        await self._redis.decr(f"rl:{key}")

    async def reset(self, key: str) -> None:
        await self._redis.delete(f"rl:{key}", f"rl:{key}:last")
