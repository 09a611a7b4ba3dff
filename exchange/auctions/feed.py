"""The real-time feed: committed events as public JSON messages, published to Redis.

Each lot has a pub/sub channel `lot:{id}` and a capped stream `lot:{id}:events` for
replay. Messages carry the lot's sequence number, so a watcher that sees a gap resyncs
and a message published twice is harmless. Redis being down never holds a bid up: the
publisher keeps what it could not send, retries with backoff, and when it had to drop
messages it reloads them from PostgreSQL (from the last sequence it published).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis

from exchange.auctions.types import Phase, iso
from exchange.infra.sweeper import cancel_and_wait
from matching_core.common import IncrementTable
from matching_core.english_types import initial_close

if TYPE_CHECKING:
    from exchange.auctions.lot import LotInfo, Recorded

log = logging.getLogger(__name__)

STREAM_MAXLEN = 1_000
MAX_PENDING = 20_000
CHUNK = 500
BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0)


def channel(lot_id: int) -> str:
    return f"lot:{lot_id}"


def stream(lot_id: int) -> str:
    return f"lot:{lot_id}:events"


def feed_message(info: LotInfo, codes: dict[str, str], recorded: Recorded) -> dict[str, Any]:
    """The public form of one event: codes instead of account ids, never a proxy maximum."""
    terms = info.terms
    payload = recorded.payload
    message: dict[str, Any] = {"lot": recorded.lot, "seq": recorded.seq, "type": recorded.kind}
    if recorded.kind == "admitted":
        message |= {"code": payload["code"], "at": iso(payload["at"])}
    elif recorded.kind == "opened":
        message |= {"at": iso(payload["at"]), "phase": Phase.FREE.value, "price": None,
                    "minimum_bid": terms.start_price, "close_at": iso(initial_close(terms))}
    elif recorded.kind == "bid":
        price = payload["price"]
        leader = codes.get(payload["leader"], "")
        message |= {
            "at": iso(payload["at"]),
            "price": price,
            "leader": leader,
            "minimum_bid": price + IncrementTable(terms.increments).step_at(price),
            "close_at": iso(payload["close_at"]),
            "phase": (Phase.TIMED if payload["at"] >= terms.scheduled_end else Phase.FREE).value,
            "bid": {"code": codes.get(payload["bidder"], ""), "price": price, "leader": leader,
                    "proxy": bool(payload["proxy"]) or payload["leader"] != payload["bidder"],
                    "at": iso(payload["at"])},
        }
        if payload["leader"] != payload["bidder"]:
            # an earlier maximum held against this bid at its amount: the bid is on the ladder too
            # (a leader's own maximum never is)
            message["bid"]["beaten"] = {"amount": payload["amount"], "proxy": bool(payload["proxy"])}
    elif recorded.kind == "closed":
        sold = bool(payload["sold"])
        message |= {
            "at": iso(payload["close_at"]),
            "phase": Phase.CLOSED.value,
            "close_at": iso(payload["close_at"]),
            "price": payload["price"] if sold else None,
            "result": {"sold": sold, "price": payload["price"] if sold else None,
                       "winner": codes.get(payload["winner"]) if sold else None},
        }
    return message


# PUBLISH and XADD of a lot's messages in one round trip, in sequence order.
_PUBLISH_ALL = """
for i = 3, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[1], ARGV[i + 1])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'seq', ARGV[i], 'data', ARGV[i + 1])
end
return (#ARGV - 2) / 2
"""

LoadAfter = Callable[[int, int], Awaitable[list[dict[str, Any]]]]


class FeedPublisher:
    """Publishes in the order committed; never blocks its caller."""

    def __init__(self, redis: aioredis.Redis, load_after: LoadAfter | None = None) -> None:
        self._redis = redis
        self._script = redis.register_script(_PUBLISH_ALL)
        self._load_after = load_after
        self._pending: deque[dict[str, Any]] = deque()
        self._behind: dict[int, int] = {}
        self.published: dict[int, int] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0

    def publish(self, messages: list[dict[str, Any]]) -> None:
        self._pending.extend(messages)
        while len(self._pending) > MAX_PENDING:
            dropped = self._pending.popleft()
            lot = dropped["lot"]
            self._behind.setdefault(lot, self.published.get(lot, 0))
        self._idle.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending) + len(self._behind)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auction-feed")

    async def stop(self, drain_s: float = 2.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(self.drained(), drain_s)
        except TimeoutError:
            log.warning("feed stopped with %d messages unpublished", self.backlog)
        await cancel_and_wait(task)

    async def drained(self) -> None:
        """Returns once everything handed over so far is in Redis."""
        if self.backlog:
            await self._idle.wait()

    async def _run(self) -> None:
        while True:
            if not self.backlog:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._catch_up()
                await self._send_pending()
                if not self.backlog:
                    self._idle.set()
                if self._failures:
                    log.warning("feed publishing to Redis resumed after %d failures", self._failures)
                self._failures = 0
            except Exception as exc:  # Redis down (or PostgreSQL, while catching up): retry
                delay = BACKOFF_S[min(self._failures, len(BACKOFF_S) - 1)]
                if self._failures == 0 or self._failures % 50 == 0:
                    log.error("feed cannot publish to Redis (%r); retrying, %d messages waiting",
                              exc, self.backlog)
                self._failures += 1
                await asyncio.sleep(delay)

    async def _catch_up(self) -> None:
        while self._behind and self._load_after is not None:
            lot, after = next(iter(self._behind.items()))
            messages = await self._load_after(lot, after)
            await self._send(messages)
            del self._behind[lot]

    async def _send_pending(self) -> None:
        while self._pending:
            chunk = [self._pending[i] for i in range(min(CHUNK, len(self._pending)))]
            await self._send(chunk)
            for _ in chunk:
                self._pending.popleft()

    async def _send(self, messages: list[dict[str, Any]]) -> None:
        fresh = [m for m in messages if m["seq"] > self.published.get(m["lot"], 0)]
        if not fresh:
            return
        by_lot: dict[int, list[Any]] = {}
        for message in fresh:
            by_lot.setdefault(message["lot"], []).extend((message["seq"], msgspec.json.encode(message)))
        pipe = self._redis.pipeline(transaction=False)
        for lot, pairs in by_lot.items():
            await self._script(keys=[stream(lot)], args=[channel(lot), STREAM_MAXLEN, *pairs], client=pipe)
        await pipe.execute()
        for message in fresh:
            self.published[message["lot"]] = message["seq"]
