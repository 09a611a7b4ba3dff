"""Restart benchmark: how long until the exchange takes bids again with many open lots.

It starts embedded PostgreSQL and Redis in a temporary directory, opens `lots` English
auctions through the services (each with two qualified bidders and `bids` bids), records
every lot's state hash, stops the auction engine, then starts a new one on the same
database, as a restarted process would: the time to `start()` (every live book rebuilt
from its events) and to the first acknowledged bid after it are measured, and every
rebuilt state hash is compared with the one recorded before the stop.
"""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.accounts.types import Account
from exchange.auctions.service import AuctionService
from exchange.bench import lots
from exchange.calendar import default_calendar
from exchange.clock import SystemClock
from exchange.config import PROJECT_ROOT
from exchange.infra.db import create_pool
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.migrations import migrate
from exchange.services import Services

START_PRICE = 100_000
STEP = 1_000


async def _open_lots(services: Services, count: int, bids: int) -> tuple[list[int], list[Account]]:
    who = await lots.parties(services, 2)

    async def one(n: int) -> int:
        lot = await lots.open_auction(services, who, n, START_PRICE, STEP)
        for i in range(bids):
            ack = await services.auctions.submit_bid(who.bidders[i % 2], lot, "bid", START_PRICE + i * STEP, f"{lot}-{i}")
            assert ack["status"] == "accepted", ack
        return lot

    ids: list[int] = []
    for start in range(0, count, 50):  # 50 lots at a time: their commands share batches
        ids.extend(await asyncio.gather(*(one(n) for n in range(start, min(start + 50, count)))))
    return ids, who.bidders


async def _bench(database_url: str, redis_url: str, count: int, bids: int) -> dict[str, Any]:
    pool = await create_pool(database_url, min_size=4, max_size=20)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, PROJECT_ROOT / "migrations")
        services = Services.build(pool, redis, SystemClock(), default_calendar(),
                                  PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), auction_notice_days=0)
        await services.auctions.start()
        setup_started = time.perf_counter()
        ids, bidders = await _open_lots(services, count, bids)
        setup_s = time.perf_counter() - setup_started
        before = {lot: (await services.auctions.room(lot))["seq"] for lot in ids}
        engine = services.auctions.engine
        assert engine is not None
        hashes = {lot: (await engine.lot(lot)).book.state_hash() for lot in ids}
        await services.auctions.stop()

        restarted = AuctionService(pool, redis, SystemClock())
        started = time.perf_counter()
        await restarted.start()
        rebuilt_s = time.perf_counter() - started
        assert restarted.engine is not None
        rebuilt = restarted.engine.sequencer
        same = sum(1 for lot in ids
                   if (book := rebuilt.lot(lot)) is not None
                   and book.book.state_hash() == hashes[lot] and book.seq == before[lot])
        lot = ids[-1]
        room = await restarted.room(lot)
        challenger = bidders[0] if room["leader"] == "A002" else bidders[1]
        ack = await restarted.submit_bid(challenger, lot, "bid", room["minimum_bid"], "after-restart")
        first_ack_s = time.perf_counter() - started
        await restarted.stop()
        return {
            "benchmark": "restart",
            "open_lots": len(ids),
            "bids_per_lot": bids,
            "events": sum(before.values()),
            "setup_s": round(setup_s, 1),
            "rebuild_s": round(rebuilt_s, 3),
            "first_ack_after_restart_s": round(first_ack_s, 3),
            "first_ack_status": ack["status"],
            "lots_with_same_state_hash": same,
            "target_s": 5.0,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    finally:
        await redis.aclose()
        await pool.close()


def run_restart_bench(lots: int = 1_000, bids: int = 20) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="restart-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        redis = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
        try:
            database_url = postgres.start()
            redis_url = redis.start()
            return asyncio.run(_bench(database_url, redis_url, lots, bids))
        finally:
            redis.stop()
            postgres.stop()
