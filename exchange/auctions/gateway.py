"""Fan-out of committed auction events to the watchers of each lot.

One gateway per web process. It listens to the Redis channels `lot:{id}` (pattern
subscription) and hands each message to the local watchers of that lot. Messages carry the
lot's event sequence number, so the gateway can tell a gap (a lost or late message, a
reconnect) and fill it from PostgreSQL, the source of truth; while Redis is unreachable it
polls PostgreSQL for the lots being watched, so the feed degrades to a slower tick rather
than stopping.

Each watcher has a bounded queue and its own sender. Messages that arrive within one
tick are coalesced into one frame. A watcher that falls too far behind, or whose socket
does not take a frame in time, is disconnected rather than allowed to slow anyone else; it
can reconnect and resynchronise from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

CHANNEL_PATTERN = "lot:*"
SLOW_CLIENT_CODE = 4008


class FeedSource(Protocol):
    """Committed events from PostgreSQL: what the gateway falls back on."""

    async def events_after(self, auction_id: int, seq: int) -> list[dict[str, Any]]: ...


class SlowClient(Exception):
    """The watcher could not keep up and has been dropped."""


Frame = tuple[str, int, int]
"""(the encoded frame, its first sequence number, its last)."""


def encode(messages: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "events", "events": messages}, ensure_ascii=False, separators=(",", ":"))


class Watch:
    """One connection's view of one lot: a bounded queue of frames in sequence order."""

    def __init__(self, lot: int, max_pending: int) -> None:
        self.lot = lot
        self.last_seq = 0
        self._max_pending = max_pending
        self._frames: deque[Frame] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False

    def push(self, frame: Frame) -> None:
        if self.overflowed:
            return
        if len(self._frames) >= self._max_pending:
            self.overflowed = True
            self._frames.clear()
        else:
            self._frames.append(frame)
        self._ready.set()

    async def next_frames(self) -> list[Frame]:
        """Wait until there is something this connection has not seen."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self.overflowed:
                raise SlowClient(f"more than {self._max_pending} frames behind")
            frames = [f for f in self._frames if f[2] > self.last_seq]
            self._frames.clear()
            if frames:
                return frames


class FeedGateway:
    def __init__(
        self,
        redis: aioredis.Redis,
        source: FeedSource,
        *,
        tick: float = 0.05,
        max_pending: int = 1000,
        send_timeout: float = 2.0,
        poll_interval: float = 1.0,
    ) -> None:
        self._redis = redis
        self._source = source
        self.tick = tick
        self.max_pending = max_pending
        self.send_timeout = send_timeout
        self.poll_interval = poll_interval
        self._watches: dict[int, set[Watch]] = defaultdict(set)
        self._lot_seq: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._fill_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self.redis_connected = False
        self.delivered = 0

    # lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="feed-gateway")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # watchers -----------------------------------------------------------------------

    def watch(self, lot: int) -> Watch:
        watch = Watch(lot, self.max_pending)
        self._watches[lot].add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        watchers = self._watches.get(watch.lot)
        if watchers is not None:
            watchers.discard(watch)
            if not watchers:
                del self._watches[watch.lot]

    def watcher_count(self, lot: int | None = None) -> int:
        if lot is not None:
            return len(self._watches.get(lot, ()))
        return sum(len(w) for w in self._watches.values())

    async def pump(self, watch: Watch, send: Callable[[str], Awaitable[None]]) -> None:
        """Send frames to one connection until it fails; SlowClient when it lags."""
        while True:
            for frame, first, last in await watch.next_frames():
                if last <= watch.last_seq:
                    continue
                if first != watch.last_seq + 1:
                    # Part of the frame was in this connection's snapshot, or messages were lost on
                    # the way: PostgreSQL has every committed event.
                    missing = await self._source.events_after(watch.lot, watch.last_seq)
                    messages = [m for m in missing if m["seq"] <= last]
                    if not messages:
                        continue
                    frame, last = encode(messages), messages[-1]["seq"]
                try:
                    await asyncio.wait_for(send(frame), self.send_timeout)
                except TimeoutError:
                    raise SlowClient(f"a frame was not taken within {self.send_timeout} s") from None
                watch.last_seq = last
                self.delivered += 1

    # incoming -----------------------------------------------------------------------

    def dispatch(self, message: dict[str, Any]) -> None:
        lot, seq = message["lot"], message["seq"]
        known = self._lot_seq.get(lot, 0)
        if seq <= known:
            return  # a duplicate (republish after a Redis outage) or already filled
        if known and seq > known + 1 and lot in self._watches:
            asyncio.get_running_loop().create_task(self._fill(lot))
            return
        self._deliver(lot, [message])

    def _deliver(self, lot: int, messages: list[dict[str, Any]]) -> None:
        """Queue messages for the lot's next frame; one frame per tick, encoded once for every watcher."""
        self._lot_seq[lot] = messages[-1]["seq"]
        if lot not in self._watches:
            return
        pending = self._pending.get(lot)
        if pending is None:
            self._pending[lot] = list(messages)
            loop = asyncio.get_running_loop()
            if self.tick > 0:
                loop.call_later(self.tick, self._flush, lot)
            else:
                loop.call_soon(self._flush, lot)
        else:
            pending.extend(messages)

    def _flush(self, lot: int) -> None:
        messages = self._pending.pop(lot, None)
        if not messages:
            return
        frame = (encode(messages), messages[0]["seq"], messages[-1]["seq"])
        for watch in self._watches.get(lot, ()):
            watch.push(frame)

    async def _fill(self, lot: int) -> None:
        """Deliver, from PostgreSQL, what the watchers of `lot` have not seen."""
        async with self._fill_locks[lot]:
            watches = self._watches.get(lot, ())
            base = self._lot_seq.get(lot) or min((w.last_seq for w in watches), default=0)
            try:
                events = await self._source.events_after(lot, base)
            except Exception:  # noqa: BLE001 - the next message or poll retries
                log.exception("filling the feed of lot %s from the database failed", lot)
                return
            fresh = [m for m in events if m["seq"] > self._lot_seq.get(lot, base)]
            if fresh:
                self._deliver(lot, fresh)

    async def _fill_all(self) -> None:
        for lot in list(self._watches):
            await self._fill(lot)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PATTERN)
                if not self.redis_connected:
                    log.info("feed gateway subscribed to Redis")
                self.redis_connected = True
                backoff = 0.2
                await self._fill_all()  # whatever was committed while we were away
                while True:
                    raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval)
                    if raw is None or raw.get("type") != "pmessage":
                        continue
                    try:
                        message = json.loads(raw["data"])
                        int(message["lot"]), int(message["seq"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("ignoring a malformed feed message on %r", raw.get("channel"))
                        continue
                    self.dispatch(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis trouble degrades the feed, never stops it
                if self.redis_connected:
                    log.warning("feed gateway lost Redis (%s); polling the database until it is back", exc)
                self.redis_connected = False
                deadline = asyncio.get_running_loop().time() + backoff
                while asyncio.get_running_loop().time() < deadline:
                    await self._fill_all()
                    await asyncio.sleep(min(self.poll_interval, backoff))
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
