"""One hot lot, many bidders: the sequencer's group commit against one transaction per bid,
and the acknowledgement latency a bidder sees through `exchange run`.

The first three phases run on embedded PostgreSQL and Redis in a temporary directory
(synchronous_commit on), in one process, the engine and its load generator side by side:
1. peak: closed-loop bidders through AuctionService (sequencer, group commit, feed);
2. baseline: the same bidders, each bid one transaction that locks the lot row
   (SELECT ... FOR UPDATE), checks the bid, appends the event, stores the idempotency
   answer and commits;
3. engine latency: an open loop at half the sequencer's peak, in the same process.
Then the latency a bidder sees: `exchange run` as started by default (engine, web workers,
feed gateways), bids over HTTP from generator processes of their own (exchange/bench/http.py):
its peak, then an open loop at half of it, each bid timed from its intended send time, so a
stalled exchange cannot hide its queue. Every bid carries an idempotency key, so every
acknowledgement (accepted or rejected) is a durable write in every phase.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.accounts.types import Account
from exchange.auctions.service import AuctionService
from exchange.bench import lots, percentile
from exchange.bench.http import run_http_bench
from exchange.calendar import default_calendar
from exchange.clock import SystemClock
from exchange.config import PROJECT_ROOT
from exchange.infra.db import create_pool
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.migrations import migrate
from exchange.services import Services

START_PRICE = 1_000
STEP = 100


@dataclass
class Setup:
    services: Services
    bidders: list[Account]
    hot_lot: int
    baseline_lot: int


async def _prepare(services: Services, bidders: int) -> Setup:
    who = await lots.parties(services, bidders)
    hot, baseline = [await lots.open_auction(services, who, n, START_PRICE, STEP) for n in range(2)]
    return Setup(services, who.bidders, hot, baseline)


class Market:
    """A bidding war: each bid one increment above the last one sent (or the minimum acked).

    In the sequencer the bids reach the book in the order sent, so nearly all are valid
    and every one is a durable event; under the row lock of the baseline the order of
    arrival is the lock's, so some are refused as too low (and write only their answer).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.minimum = START_PRICE
        self.next = START_PRICE
        self.keys = itertools.count()

    def amount(self) -> int:
        amount = self.next = max(self.next, self.minimum)
        self.next += STEP
        return amount

    def key(self) -> str:
        return f"{self.name}-{next(self.keys)}"


async def _closed_loop(seconds: float, concurrency: int, bidders: list[Account], bid: Any) -> tuple[int, int]:
    stop_at = time.perf_counter() + seconds
    counts = [0, 0]

    async def worker(i: int) -> None:
        account = bidders[i % len(bidders)]
        while time.perf_counter() < stop_at:
            accepted = await bid(account)
            counts[0] += 1
            counts[1] += accepted

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return counts[0], counts[1]


def _sequencer_bid(engine: AuctionService, lot: int, market: Market) -> Any:
    async def bid(account: Account) -> bool:
        ack = await engine.submit_bid(account, lot, "bid", market.amount(), market.key())
        market.minimum = max(market.minimum, ack["minimum_bid"])
        return bool(ack["status"] == "accepted")
    return bid


def _baseline_bid(pool: asyncpg.Pool, lot: int, market: Market) -> Any:
    """One transaction per bid, the lot row locked for the whole of it."""

    async def bid(account: Account) -> bool:
        amount, key = market.amount(), market.key()
        now = datetime.now(UTC)
        async with pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT price, leader, last_seq FROM bench_baseline WHERE id = $1 FOR UPDATE", lot)
            assert row is not None
            price, leader, seq = row["price"], row["leader"], row["last_seq"]
            minimum = price + STEP if price else START_PRICE
            accepted = amount >= minimum and (amount - START_PRICE) % STEP == 0 and leader != account.id
            if accepted:
                seq += 1
                payload = {"bidder": str(account.id), "amount": amount, "proxy": False, "at": 0,
                           "leader": str(account.id), "price": amount, "leader_max": amount, "close_at": 0}
                await conn.execute(
                    """INSERT INTO auction_events (auction_id, seq, kind, payload, recorded_at)
                       VALUES ($1, $2, 'bid', $3, $4)""", lot, seq, payload, now)
                await conn.execute(
                    "UPDATE bench_baseline SET price = $2, leader = $3, last_seq = $4 WHERE id = $1",
                    lot, amount, account.id, seq)
                await conn.execute("UPDATE auctions SET last_seq = $2 WHERE id = $1", lot, seq)
                minimum = amount + STEP
            response = {"status": "accepted" if accepted else "rejected", "seq": seq if accepted else None,
                        "minimum_bid": minimum}
            await conn.execute(
                """INSERT INTO bid_requests (account_id, idempotency_key, auction_id, request_hash,
                       response, created_at) VALUES ($1, $2, $3, $4, $5, $6)""",
                account.id, key, lot, f"{lot}:bid:{amount}", response, now)
        market.minimum = max(market.minimum, minimum)
        return accepted
    return bid


async def _open_loop(rate: float, seconds: float, bidders: list[Account], bid: Any) -> list[float]:
    """Latencies in ms, each from the bid's intended send time."""
    latencies: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()
    total = int(rate * seconds)

    async def one(account: Account, intended: float) -> None:
        await bid(account)
        latencies.append((time.perf_counter() - intended) * 1_000)

    for i in range(total):
        intended = started + i / rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(bidders[i % len(bidders)], intended))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return latencies


async def _bench(database_url: str, redis_url: str, seconds: float, bidders: int, concurrency: int) -> dict[str, Any]:
    pool = await create_pool(database_url, min_size=4, max_size=20)
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, PROJECT_ROOT / "migrations")
            await conn.execute("CREATE TABLE bench_baseline (id bigint PRIMARY KEY, price bigint NOT NULL, "
                               "leader bigint, last_seq bigint NOT NULL)")
            synchronous_commit = await conn.fetchval("SHOW synchronous_commit")
        services = Services.build(pool, redis, SystemClock(), default_calendar(),
                                  PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), auction_notice_days=0)
        engine = services.auctions
        await engine.start()
        setup = await _prepare(services, bidders)
        async with pool.acquire() as conn:
            seq = await conn.fetchval("SELECT last_seq FROM auctions WHERE id = $1", setup.baseline_lot)
            await conn.execute("INSERT INTO bench_baseline VALUES ($1, 0, NULL, $2)", setup.baseline_lot, seq)

        market = Market("sequencer")
        hot = _sequencer_bid(engine, setup.hot_lot, market)
        await _closed_loop(0.5, concurrency, setup.bidders, hot)  # warm up
        batches_before = engine.batches_committed
        started = time.perf_counter()
        acked, accepted = await _closed_loop(seconds, concurrency, setup.bidders, hot)
        peak_elapsed = time.perf_counter() - started
        batches = engine.batches_committed - batches_before
        peak = acked / peak_elapsed

        baseline_market = Market("baseline")
        baseline = _baseline_bid(pool, setup.baseline_lot, baseline_market)
        started = time.perf_counter()
        base_acked, base_accepted = await _closed_loop(seconds, concurrency, setup.bidders, baseline)
        base_elapsed = time.perf_counter() - started

        rate = peak / 2
        started = time.perf_counter()
        latencies = await _open_loop(rate, seconds, setup.bidders, hot)
        open_elapsed = time.perf_counter() - started
        await engine.stop()
        return {
            "sequencer_bids_per_s": round(peak, 1),
            "sequencer_accepted_bids_per_s": round(accepted / peak_elapsed, 1),
            "baseline_bids_per_s": round(base_acked / base_elapsed, 1),
            "baseline_accepted_bids_per_s": round(base_accepted / base_elapsed, 1),
            "speedup": round(peak / (base_acked / base_elapsed), 2),
            "mean_batch_size": round(acked / max(batches, 1), 1),
            "engine_half_peak_rate_per_s": round(rate, 1),
            "engine_half_peak_achieved_per_s": round(len(latencies) / open_elapsed, 1),
            "engine_ack_p50_ms_at_half_peak": round(percentile(latencies, 0.50), 2),
            "engine_ack_p99_ms_at_half_peak": round(percentile(latencies, 0.99), 2),
            "engine_ack_max_ms_at_half_peak": round(max(latencies, default=0.0), 2),
            "phase_seconds": seconds,
            "bidders": bidders,
            "concurrency": concurrency,
            "synchronous_commit": synchronous_commit,
            "every_bid_has_idempotency_key": True,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }
    finally:
        await redis.aclose()
        await pool.close()


def run_hotlot_bench(seconds: float = 8.0, bidders: int = 50, concurrency: int = 200) -> dict[str, Any]:
    """The in-process phases on embedded PostgreSQL and Redis in a temporary directory, then the
    latency through `exchange run`."""
    with tempfile.TemporaryDirectory(prefix="hotlot-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        redis = EmbeddedRedis(Path(tmp) / "redis", persistent=False)
        try:
            database_url = postgres.start()
            redis_url = redis.start()
            figures = asyncio.run(_bench(database_url, redis_url, seconds, bidders, concurrency))
        finally:
            redis.stop()
            postgres.stop()
    http = run_http_bench(seconds=seconds, bidders=bidders)
    return figures | {
        "http_peak_bids_per_s": http["http_bids_per_s"],
        "half_peak_rate_per_s": http["half_peak_rate_per_s"],
        "ack_p50_ms_at_half_peak": http["ack_p50_ms_at_half_peak"],
        "ack_p99_ms_at_half_peak": http["ack_p99_ms_at_half_peak"],
        "ack_max_ms_at_half_peak": http["ack_max_ms_at_half_peak"],
        "answers_at_half_peak": http["answers_at_half_peak"],
        "half_peak_of": "bids over HTTP through exchange run as started by default, from generator processes of "
                        "their own; the peak is their closed loops' in the same run",
    }


if __name__ == "__main__":
    print(json.dumps(run_hotlot_bench()))
