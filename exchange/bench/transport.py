"""How a gateway hands a bid to the engine: the engine link (exchange/auctions/link.py) against
Redis Streams with a consumer group, measured in one run with an engine that answers at once.

Each transport runs its engine side in a process of its own and its gateway side here, both on
uvloop. Two figures each: the round trip of one call at a time, and calls answered per second
with 256 in flight. The Redis variant is what a Streams design needs at least: the gateway
XADDs the command to the engine's stream; the engine reads it with XREADGROUP, XADDs the
answer to the gateway's own stream and XACKs; the gateway reads its stream with XREAD.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from exchange.bench import percentile
from exchange.infra.embedded import EmbeddedRedis

Entries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
SECRET = "transport-bench"  # noqa: S105 - the benchmark's own link key
CALLS = 2_000
IN_FLIGHT = 256
SECONDS = 3.0


class _Instant:
    """An engine that answers every bid at once (the transport alone is measured)."""

    def stamp(self) -> int:
        return time.time_ns() // 1000

    def place_bid(self, request: Any, received_at: int | None = None) -> Any:
        future = asyncio.get_running_loop().create_future()
        future.set_result({"status": "accepted", "amount": request.amount})
        return future

    def admit(self, admission: Any, received_at: int | None = None) -> Any:
        return self.place_bid(admission, received_at)

    async def load(self, auction_id: int) -> None:
        return None


def _link_engine(ready: Any) -> None:
    import uvloop

    from exchange.auctions.horizon import Horizon
    from exchange.auctions.link_server import EngineServer

    async def main() -> None:
        server = EngineServer(_Instant(), Horizon(), SECRET)
        ready.put(await server.start("127.0.0.1", 0))
        await asyncio.sleep(3600)

    uvloop.run(main())


def _redis_engine(url: str, ready: Any) -> None:
    import redis.asyncio as aioredis
    import uvloop

    async def main() -> None:
        redis = aioredis.Redis.from_url(url)
        await redis.xgroup_create("engine:commands", "engine", id="$", mkstream=True)
        ready.put(True)
        while True:
            found = cast(Entries, await redis.xreadgroup("engine", "engine-1", {"engine:commands": ">"},
                                                         count=1000, block=0))
            pipe = redis.pipeline(transaction=False)
            for _, entries in found:
                for entry_id, fields in entries:
                    pipe.xadd(b"reply:" + fields[b"gateway"], {"id": fields[b"id"], "status": "accepted",
                                                               "amount": fields[b"amount"]}, maxlen=10_000)
                    pipe.xack("engine:commands", "engine", entry_id)
            await pipe.execute()

    uvloop.run(main())


async def _measure(call: Any) -> dict[str, Any]:
    one_at_a_time = []
    for _ in range(CALLS):
        started = time.perf_counter()
        await call()
        one_at_a_time.append((time.perf_counter() - started) * 1000)
    answered = 0
    stop_at = time.perf_counter() + SECONDS

    async def loop() -> None:
        nonlocal answered
        while time.perf_counter() < stop_at:
            await call()
            answered += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    return {"round_trip_p50_ms": round(percentile(one_at_a_time, 0.5), 3),
            "round_trip_p99_ms": round(percentile(one_at_a_time, 0.99), 3),
            "calls_per_s_256_in_flight": round(answered / (time.perf_counter() - started))}


async def _link(port: int) -> dict[str, Any]:
    from exchange.auctions.commands import PlaceBidRequest
    from exchange.auctions.link import EngineLink
    from exchange.clock import SystemClock

    async def locate() -> str:
        return f"127.0.0.1:{port}"

    link = EngineLink(locate, SECRET, SystemClock(), name="bench")
    link.start()
    await asyncio.wait_for(link.connected.wait(), 10)
    try:
        return await _measure(lambda: link.bid(PlaceBidRequest(1, 1, "bid", 1_000, "k", "h"), link.ticket()))
    finally:
        await link.stop()


async def _streams(url: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    redis = aioredis.Redis.from_url(url, max_connections=IN_FLIGHT + 8)
    pending: dict[bytes, asyncio.Future[Any]] = {}
    ids = iter(range(1, 10**9))

    async def replies() -> None:
        last = b"$"
        reader = aioredis.Redis.from_url(url)
        while True:
            read = cast(Entries, await reader.xread({"reply:bench": last}, count=1000, block=0))
            for _, entries in read:
                for entry_id, fields in entries:
                    last = entry_id
                    future = pending.pop(fields[b"id"], None)
                    if future is not None and not future.done():
                        future.set_result(fields)

    reading = asyncio.create_task(replies())
    await asyncio.sleep(0.2)

    async def call() -> Any:
        call_id = str(next(ids)).encode()
        future = asyncio.get_running_loop().create_future()
        pending[call_id] = future
        await redis.xadd("engine:commands", {"id": call_id, "gateway": "bench", "amount": 1_000}, maxlen=100_000)
        return await future

    try:
        return await _measure(call)
    finally:
        reading.cancel()
        await redis.aclose()


def run_transport_bench() -> dict[str, Any]:
    import uvloop

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="transport-") as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
        url = redis.start()
        engines = []
        try:
            ready = context.Queue()
            engines.append(context.Process(target=_link_engine, args=(ready,), daemon=True))
            engines[-1].start()
            link = uvloop.run(_link(ready.get(timeout=30)))
            engines.append(context.Process(target=_redis_engine, args=(url, ready), daemon=True))
            engines[-1].start()
            ready.get(timeout=30)
            streams = uvloop.run(_streams(url))
        finally:
            for engine in engines:
                engine.kill()
                engine.join(10)
            redis.stop()
    return {
        "benchmark": "transport",
        "engine_link": link,
        "redis_streams": streams,
        "engine_answers": "at once (the transport alone)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
