"""The feed gateway with fakes: ordering, coalescing, duplicates, gap fill, Redis outage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from exchange.auctions.gateway import FeedGateway


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

    async def subscribe(self, *channels: str) -> None:
        raise ConnectionError("connection refused")

    async def aclose(self) -> None:
        return None


class Sink:
    """The websocket server, as the gateway sees it: which lots are watched, and the frames written."""

    def __init__(self, *lots: int) -> None:
        self.lots = set(lots)
        self.frames: dict[int, list[list[dict[str, Any]]]] = {}

    def watching(self, lot: int) -> bool:
        return lot in self.lots

    def watched(self) -> list[int]:
        return sorted(self.lots)

    def deliver(self, lot: int, frame: str) -> None:
        self.frames.setdefault(lot, []).append(json.loads(frame)["events"])

    def seqs(self, lot: int) -> list[int]:
        return [m["seq"] for frame in self.frames.get(lot, []) for m in frame]


def gateway(source: Source, sink: Sink, **options: Any) -> FeedGateway:
    return FeedGateway(DeadRedis(), source, sink, **options)  # type: ignore[arg-type]


async def settle(condition: Any, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - waiting on a plain predicate of the fakes
            await asyncio.sleep(0.005)


async def test_a_message_after_a_quiet_spell_goes_at_once_and_a_burst_is_coalesced() -> None:
    source, sink = Source(), Sink(7)
    feed = gateway(source, sink, tick=0.2)
    feed.dispatch(source.commit(7, 1)[0])
    await settle(lambda: sink.seqs(7) == [1])  # not held back for a tick
    for message in source.commit(7, 4):  # a burst within the tick after it
        feed.dispatch(message)
    await asyncio.sleep(0.05)
    assert sink.seqs(7) == [1]
    await settle(lambda: sink.seqs(7) == [1, 2, 3, 4, 5])
    assert [len(frame) for frame in sink.frames[7]] == [1, 4]


async def test_duplicates_from_a_republish_are_not_sent_again() -> None:
    source, sink = Source(), Sink(3)
    feed = gateway(source, sink, tick=0)
    for message in source.commit(3, 2):
        feed.dispatch(message)
    for message in source.events[3]:
        feed.dispatch(message)  # the publisher resends after an outage
    feed.dispatch(source.commit(3, 1)[0])
    await settle(lambda: sink.seqs(3) == [1, 2, 3])
    await asyncio.sleep(0.02)
    assert sink.seqs(3) == [1, 2, 3]


async def test_a_gap_is_filled_from_the_database_once() -> None:
    source, sink = Source(), Sink(1)
    feed = gateway(source, sink, tick=0)
    feed.dispatch(source.commit(1, 1)[0])
    lost = source.commit(1, 3)  # 2, 3, 4 never arrive through Redis
    late = source.commit(1, 1)
    assert [m["seq"] for m in lost] == [2, 3, 4]
    feed.dispatch(late[0])
    await settle(lambda: sink.seqs(1) == [1, 2, 3, 4, 5])
    assert source.calls == [(1, 1)]


async def test_a_gap_seen_while_filling_is_filled_after_it() -> None:
    source, sink = Source(), Sink(1)
    feed = gateway(source, sink, tick=0)
    feed.dispatch(source.commit(1, 1)[0])
    source.commit(1, 1)
    feed.dispatch(source.commit(1, 1)[0])  # seq 3: 2 is missing, a fill starts
    source.commit(1, 1)
    feed.dispatch(source.commit(1, 1)[0])  # seq 5 while that fill runs
    await settle(lambda: sink.seqs(1) == [1, 2, 3, 4, 5])
    assert source.calls[0] == (1, 1) and len(source.calls) <= 2


async def test_lots_nobody_watches_are_tracked_but_not_encoded() -> None:
    source, sink = Source(), Sink()
    feed = gateway(source, sink, tick=0)
    for message in source.commit(4, 3):
        feed.dispatch(message)
    assert feed.last_seq(4) == 3
    sink.lots.add(4)  # someone starts watching after a snapshot at seq 3
    feed.note_watching(4, 3)
    feed.dispatch(source.commit(4, 1)[0])
    await settle(lambda: sink.seqs(4) == [4])
    assert source.calls == []


async def test_without_redis_the_gateway_polls_the_database_for_watched_lots() -> None:
    source, sink = Source(), Sink(9)
    feed = gateway(source, sink, tick=0, poll_interval=0.02)
    feed.note_watching(9, 0)
    await feed.start()
    try:
        source.commit(9, 2)
        await settle(lambda: sink.seqs(9) == [1, 2])
        source.commit(9, 1)
        await settle(lambda: sink.seqs(9) == [1, 2, 3])
        assert not feed.redis_connected
    finally:
        await feed.stop()


class QuietRedis:
    """A Redis that takes subscriptions, answers pings and delivers nothing: what the gateway
    subscribes to. `hung`: it stops answering (a SIGSTOPped server)."""

    def __init__(self) -> None:
        self.channels: list[str] = []
        self.log: list[str] = []
        self.pongs = 0
        self.hung = False

    def pubsub(self) -> QuietRedis:
        return self

    async def subscribe(self, *channels: str) -> None:
        self.channels.extend(channels)
        self.log.extend(f"+{c}" for c in channels)

    async def unsubscribe(self, *channels: str) -> None:
        for name in channels:
            self.channels.remove(name)
        self.log.extend(f"-{c}" for c in channels)

    async def ping(self) -> None:
        if not self.hung:
            self.pongs += 1

    async def get_message(self, ignore_subscribe_messages: bool, timeout: float) -> dict[str, Any] | None:
        if self.pongs:
            self.pongs -= 1
            return {"type": "pong", "data": b""}
        await asyncio.sleep(timeout)
        return None

    async def aclose(self) -> None:
        return None


async def test_a_gateway_subscribes_only_to_the_lots_its_watchers_follow() -> None:
    redis, source, sink = QuietRedis(), Source(), Sink()
    feed = FeedGateway(redis, source, sink, tick=0, poll_interval=0.01, linger_s=0.05)  # type: ignore[arg-type]
    sink.lots.add(5)
    feed.note_watching(5, 0)  # before Redis is reached: subscribed on connecting
    await feed.start()
    try:
        await settle(lambda: feed.redis_connected and any(c == "lot:5" for c in redis.channels))
        sink.lots.add(8)
        feed.note_watching(8, 0)
        feed.note_watching(8, 0)  # a second watcher of the same lot
        await settle(lambda: "lot:8" in redis.channels)
        assert redis.log.count("+lot:8") == 1 and all(not c.startswith("lot:*") for c in redis.channels)
        sink.lots.discard(8)
        feed.unwatched(8)
        sink.lots.discard(5)
        feed.unwatched(5)
        sink.lots.add(5)  # someone came back to lot 5 within the linger
        await settle(lambda: "lot:8" not in redis.channels)
        await asyncio.sleep(0.1)
        assert "lot:5" in redis.channels and feed.subscriptions == 1
    finally:
        await feed.stop()


async def test_a_hung_redis_is_noticed_within_a_few_polls_and_the_feed_comes_from_the_database() -> None:
    redis, source, sink = QuietRedis(), Source(), Sink(6)
    feed = FeedGateway(redis, source, sink, tick=0, poll_interval=0.02)  # type: ignore[arg-type]
    feed.note_watching(6, 0)
    await feed.start()
    try:
        await settle(lambda: feed.redis_connected)
        await asyncio.sleep(0.2)
        assert feed.redis_connected, "a quiet Redis that answers its pings is not hung"
        redis.hung = True
        source.commit(6, 2)  # committed while Redis hangs: no message will come
        await settle(lambda: not feed.redis_connected and sink.seqs(6) == [1, 2], timeout=2.0)
    finally:
        await feed.stop()
