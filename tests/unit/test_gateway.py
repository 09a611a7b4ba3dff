"""The feed gateway with fakes: ordering, coalescing, gap fill, slow clients, Redis outage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from exchange.auctions.gateway import FeedGateway, SlowClient


class Source:
    """PostgreSQL's committed events, as the gateway sees them."""

    def __init__(self) -> None:
        self.events: dict[int, list[dict[str, Any]]] = {}
        self.calls: list[tuple[int, int]] = []

    def commit(self, lot: int, count: int) -> list[dict[str, Any]]:
        log = self.events.setdefault(lot, [])
        new = [{"lot": lot, "seq": len(log) + i + 1, "type": "bid", "price": 100 * (len(log) + i + 1)}
               for i in range(count)]
        log.extend(new)
        return new

    async def events_after(self, auction_id: int, seq: int) -> list[dict[str, Any]]:
        self.calls.append((auction_id, seq))
        return [m for m in self.events.get(auction_id, []) if m["seq"] > seq]


class DeadRedis:
    """A Redis that refuses every connection."""

    def pubsub(self) -> DeadRedis:
        return self

    async def psubscribe(self, *patterns: str) -> None:
        raise ConnectionError("connection refused")

    async def aclose(self) -> None:
        return None


class Socket:
    def __init__(self, delay: float = 0.0) -> None:
        self.frames: list[list[dict[str, Any]]] = []
        self.delay = delay

    async def send(self, text: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        frame = json.loads(text)
        assert frame["type"] == "events"
        self.frames.append(frame["events"])

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for frame in self.frames for m in frame]


def gateway(source: Source, **options: Any) -> FeedGateway:
    return FeedGateway(DeadRedis(), source, **options)  # type: ignore[arg-type]


async def settle(condition: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_messages_within_a_tick_are_coalesced_into_one_frame_in_order() -> None:
    source = Source()
    feed = gateway(source, tick=0.05)
    watch = feed.watch(7)
    socket = Socket()
    pump = asyncio.create_task(feed.pump(watch, socket.send))
    for message in source.commit(7, 5):
        feed.dispatch(message)
    await settle(lambda: len(socket.seqs) == 5)
    pump.cancel()
    assert socket.seqs == [1, 2, 3, 4, 5]
    assert len(socket.frames) == 1
    assert watch.last_seq == 5


async def test_messages_at_or_below_the_snapshot_sequence_are_not_sent_again() -> None:
    source = Source()
    feed = gateway(source, tick=0)
    source.commit(3, 4)
    watch = feed.watch(3)
    watch.last_seq = 4  # the snapshot the connection was served
    socket = Socket()
    pump = asyncio.create_task(feed.pump(watch, socket.send))
    for message in source.events[3]:
        feed.dispatch(message)  # a republish after an outage
    new = source.commit(3, 1)
    feed.dispatch(new[0])
    await settle(lambda: socket.seqs == [5])
    pump.cancel()
    assert socket.seqs == [5]


async def test_a_gap_is_filled_from_the_database_once_for_all_watchers() -> None:
    source = Source()
    feed = gateway(source, tick=0)
    watches = [feed.watch(1) for _ in range(3)]
    sockets = [Socket() for _ in watches]
    pumps = [asyncio.create_task(feed.pump(w, s.send)) for w, s in zip(watches, sockets, strict=True)]
    first = source.commit(1, 1)
    feed.dispatch(first[0])
    lost = source.commit(1, 3)  # 2, 3, 4 never arrive through Redis
    late = source.commit(1, 1)
    assert [m["seq"] for m in lost] == [2, 3, 4]
    feed.dispatch(late[0])
    await settle(lambda: all(s.seqs == [1, 2, 3, 4, 5] for s in sockets))
    for pump in pumps:
        pump.cancel()
    assert source.calls == [(1, 1)]


async def test_a_watcher_that_falls_too_far_behind_is_dropped_and_others_carry_on() -> None:
    source = Source()
    feed = gateway(source, tick=0, max_pending=10)
    slow_watch, fast_watch = feed.watch(2), feed.watch(2)
    fast = Socket()
    fast_pump = asyncio.create_task(feed.pump(fast_watch, fast.send))
    for message in source.commit(2, 11):
        feed.dispatch(message)  # the slow watcher's pump is not even running: 11 > 10 queued
        await asyncio.sleep(0.002)  # while the fast one keeps up
    with pytest.raises(SlowClient):
        await feed.pump(slow_watch, Socket().send)
    await settle(lambda: len(fast.seqs) == 11)
    fast_pump.cancel()
    assert fast.seqs == list(range(1, 12))


async def test_a_socket_that_does_not_take_a_frame_in_time_is_dropped() -> None:
    source = Source()
    feed = gateway(source, tick=0, send_timeout=0.05)
    watch = feed.watch(4)
    feed.dispatch(source.commit(4, 1)[0])
    with pytest.raises(SlowClient):
        await feed.pump(watch, Socket(delay=1.0).send)


async def test_without_redis_the_gateway_polls_the_database_for_watched_lots() -> None:
    source = Source()
    feed = gateway(source, tick=0, poll_interval=0.02)
    watch = feed.watch(9)
    socket = Socket()
    await feed.start()
    pump = asyncio.create_task(feed.pump(watch, socket.send))
    try:
        source.commit(9, 2)
        await settle(lambda: socket.seqs == [1, 2])
        source.commit(9, 1)
        await settle(lambda: socket.seqs == [1, 2, 3])
        assert not feed.redis_connected
    finally:
        pump.cancel()
        await feed.stop()


async def test_unwatching_forgets_the_connection() -> None:
    feed = gateway(Source())
    watch = feed.watch(5)
    assert feed.watcher_count(5) == 1 and feed.watcher_count() == 1
    feed.unwatch(watch)
    feed.unwatch(watch)
    assert feed.watcher_count() == 0
