"""Fan-out of committed auction events to the watchers of each lot.

One gateway per feed process. It subscribes to the Redis channel `lot:{id}` of each lot
its watchers follow (from the first watcher until a while after the last one left) and
turns the lot's messages into frames for its sink (the websocket server, which writes each
frame to every connection of the lot). Messages carry
the lot's event sequence number, so the gateway can tell a gap (a lost or late message, a
reconnect) and fill it from PostgreSQL, the source of truth; while Redis is unreachable it
polls PostgreSQL for the lots being watched, so the feed degrades to a slower tick rather
than stopping.

A message after a quiet spell is sent at once; messages that follow within one tick are
coalesced into one frame, encoded once for all the lot's watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Protocol

import redis.asyncio as aioredis

from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

SILENT_POLLS = 3
"""Polls (of `poll_interval`) without a message or the answer to a ping before Redis is taken
to be hung and the feed falls back to polling PostgreSQL."""
LINGER_S = 10.0
"""How long a gateway stays subscribed to a lot after its last watcher left (reloads come back)."""


def channel(lot: int) -> str:
    return f"lot:{lot}"


class FeedSource(Protocol):
    """Committed events from PostgreSQL: what the gateway falls back on."""

    async def events_after(self, auction_id: int, seq: int) -> list[dict[str, Any]]: ...


def encode(messages: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "events", "events": messages}, ensure_ascii=False, separators=(",", ":"))


class FrameSink(Protocol):
    """Where frames go: `deliver` writes one to every watcher of the lot."""

    def deliver(self, lot: int, frame: str) -> None: ...

    def watching(self, lot: int) -> bool: ...

    def watched(self) -> Iterable[int]: ...


class FeedGateway:
    """`linger_s`: how long to keep a lot's subscription after its last watcher left."""

    def __init__(
        self,
        redis: aioredis.Redis,
        source: FeedSource,
        sink: FrameSink,
        *,
        tick: float = 0.05,
        poll_interval: float = 1.0,
        linger_s: float = LINGER_S,
    ) -> None:
        self._redis = redis
        self._source = source
        self._sink = sink
        self.tick = tick
        self.poll_interval = poll_interval
        self._lot_seq: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._fill_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._last_flush: dict[int, float] = {}
        self._filling: dict[int, bool] = {}  # lot -> another gap was seen while filling
        self.linger_s = linger_s
        self._subscribed: set[int] = set()
        self._pubsub: Any = None
        self._control = f"feed:{os.getpid()}:{id(self)}"
        """A channel nobody publishes on: the connection stays in subscriber mode with no lot watched."""
        self.redis_connected = False

    # lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="feed-gateway")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def last_seq(self, lot: int) -> int:
        """The last sequence number handed to the sink for `lot` (0 if none yet)."""
        return self._lot_seq.get(lot, 0)

    def note_watching(self, lot: int, seq: int) -> None:
        """A watcher of `lot` was served a snapshot at `seq`: later messages continue from it."""
        self._lot_seq.setdefault(lot, seq)
        if lot not in self._subscribed:
            self._subscribed.add(lot)
            self._send_subscription("subscribe", lot)

    def unwatched(self, lot: int) -> None:
        """The last watcher of `lot` left: unsubscribe unless one comes back within `linger_s`."""
        asyncio.get_running_loop().call_later(self.linger_s, self._drop_if_unwatched, lot)

    def _drop_if_unwatched(self, lot: int) -> None:
        if self._sink.watching(lot) or lot not in self._subscribed:
            return
        self._subscribed.discard(lot)
        self._lot_seq.pop(lot, None)
        self._send_subscription("unsubscribe", lot)

    @property
    def subscriptions(self) -> int:
        return len(self._subscribed)

    def _send_subscription(self, verb: str, lot: int) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return  # (re)connecting: the connection subscribes to every wanted lot

        async def send() -> None:
            try:
                await getattr(pubsub, verb)(channel(lot))
            except Exception as exc:  # noqa: BLE001 - the connection is failing; it resubscribes on return
                log.warning("could not %s to the feed of lot %s: %r", verb, lot, exc)

        asyncio.get_running_loop().create_task(send())

    # incoming -----------------------------------------------------------------------

    def dispatch(self, message: dict[str, Any]) -> None:
        lot, seq = message["lot"], message["seq"]
        known = self._lot_seq.get(lot, 0)
        if seq <= known:
            return  # a duplicate (republish after a Redis outage) or already filled
        if not self._sink.watching(lot):
            self._lot_seq[lot] = seq  # nobody here watches it: remember where it is, send nothing
            return
        if known and seq > known + 1:
            self._request_fill(lot)
            return
        self._deliver(lot, [message])

    def _request_fill(self, lot: int) -> None:
        """One fill at a time per lot; a gap seen during a fill asks for one more after it."""
        if lot in self._filling:
            self._filling[lot] = True
            return
        self._filling[lot] = False

        async def fill_until_caught_up() -> None:
            try:
                while True:
                    await self._fill(lot)
                    if not self._filling.get(lot):
                        return
                    self._filling[lot] = False
            finally:
                self._filling.pop(lot, None)

        asyncio.get_running_loop().create_task(fill_until_caught_up())

    def _deliver(self, lot: int, messages: list[dict[str, Any]]) -> None:
        """Queue messages for the lot's next frame."""
        self._lot_seq[lot] = messages[-1]["seq"]
        pending = self._pending.get(lot)
        if pending is None:
            self._pending[lot] = list(messages)
            loop = asyncio.get_running_loop()
            wait = self._last_flush.get(lot, -self.tick) + self.tick - loop.time()
            if wait > 0:
                loop.call_later(wait, self._flush, lot)
            else:
                loop.call_soon(self._flush, lot)
        else:
            pending.extend(messages)

    def _flush(self, lot: int) -> None:
        messages = self._pending.pop(lot, None)
        if not messages:
            return
        self._last_flush[lot] = asyncio.get_running_loop().time()
        self._sink.deliver(lot, encode(messages))

    async def _fill(self, lot: int) -> None:
        """Deliver, from PostgreSQL, what the watchers of `lot` have not seen."""
        async with self._fill_locks[lot]:
            base = self._lot_seq.get(lot, 0)
            try:
                events = await self._source.events_after(lot, base)
            except Exception:  # noqa: BLE001 - the next message or poll retries
                log.exception("filling the feed of lot %s from the database failed", lot)
                return
            fresh = [m for m in events if m["seq"] > self._lot_seq.get(lot, base)]
            if fresh:
                self._deliver(lot, fresh)

    async def _fill_all(self) -> None:
        for lot in list(self._sink.watched()):
            if lot in self._lot_seq:
                await self._fill(lot)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._control, *(channel(lot) for lot in self._subscribed))
                self._pubsub = pubsub
                if not self.redis_connected:
                    log.info("feed gateway subscribed to Redis")
                self.redis_connected = True
                backoff = 0.2
                await self._fill_all()  # whatever was committed while we were away
                loop = asyncio.get_running_loop()
                heard = pinged = loop.time()
                while True:
                    raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self.poll_interval)
                    now = loop.time()
                    if raw is not None:
                        heard = now
                    elif now - heard > SILENT_POLLS * self.poll_interval:
                        # a quiet lot and a hung Redis look alike: only a ping it answers tells them apart
                        raise ConnectionError(f"Redis has not answered for {now - heard:.1f} s")
                    elif now - pinged >= self.poll_interval:
                        await pubsub.ping()
                        pinged = now
                    if raw is None or raw.get("type") != "message":
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
                self._pubsub = None
                deadline = asyncio.get_running_loop().time() + backoff
                while asyncio.get_running_loop().time() < deadline:
                    await self._fill_all()
                    await asyncio.sleep(min(self.poll_interval, backoff))
                backoff = min(backoff * 2, 5.0)
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
