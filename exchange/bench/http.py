"""HTTP benchmarks through `exchange run` as it starts by default (engine, web workers, feed
gateways as separate processes), loaded by generator processes of their own (httpgen.py).

- `http`: bid answers per second on one hot lot (closed loops), and their latency.
- `hotlot` latency: an open loop at half of that peak, each bid timed from its intended send.
- `mixed`: bids at a fixed rate alone, then with correct logins (a full argon2 check each)
  from another client at the same time.
"""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from exchange.bench.fanout import exchange_process, set_up_lot
from exchange.bench.httpgen import Bids, Load, Logins, Outcome, generate
from exchange.load.api import PASSWORD, ExchangeApi

LOGIN_ACCOUNTS = 40
"""The storm's logins take these accounts in turn: many users at once, not one (one account's
burst is answered 429 by the login limits before any password check)."""
START_PRICE = 1_000_000
STEP = 100
SETTINGS = {
    "EXCHANGE_AUCTION_NOTICE_DAYS": "0",  # the lot opens at once: no 7-day auction notice in a benchmark
}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


async def _lot(url: str, env: dict[str, str], bidders: int) -> Bids:
    auction_id, headers = await set_up_lot(url, env, bidders=bidders)
    target = urlsplit(url)
    assert target.hostname is not None and target.port is not None
    return Bids(target.hostname, target.port, auction_id, [h["Authorization"] for h in headers],
                START_PRICE, STEP, "bench")


async def _run(load: Load, target: Bids | Logins, first: int = 0) -> Outcome:
    return await asyncio.to_thread(generate, target, load, first=first)


def run_http_bench(seconds: float = 8.0, bidders: int = 50, workers: int = 2, connections: int = 64,
                   rates: tuple[float, ...] = ()) -> dict[str, Any]:
    """The peak (closed loops), the latency at half of it, and at each of `rates` (open loops)."""
    async def bench() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
            async with exchange_process(Path(tmp), SETTINGS) as (url, env):
                bids = await _lot(url, env, bidders)
                warm = await _run(Load("closed", 1.0, workers, connections), bids)
                peak = await _run(Load("closed", seconds, workers, connections), bids, warm.next_seq)
                half_rate = round(peak.answered / peak.elapsed_s / 2)
                half = await _run(Load("open", seconds, workers, connections * 4, rate=half_rate), bids,
                                  peak.next_seq)
                at_rates, after = {}, half.next_seq
                for rate in rates:
                    fixed = await _run(Load("open", seconds, workers, connections * 4, rate=rate), bids, after)
                    after = fixed.next_seq
                    at_rates[f"{rate:g}"] = {k: v for k, v in fixed.figures().items()
                                             if k in ("answered_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms")}
        figures, at_half = peak.figures(), half.figures()
        return {
            "benchmark": "http",
            "http_bids_per_s": figures["answered_per_s"],
            "p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"], "max_ms": figures["max_ms"],
            "answers": figures["statuses"],
            "half_peak_rate_per_s": half_rate,
            "ack_p50_ms_at_half_peak": at_half["p50_ms"], "ack_p99_ms_at_half_peak": at_half["p99_ms"],
            "ack_max_ms_at_half_peak": at_half["max_ms"], "answers_at_half_peak": at_half["statuses"],
            "generator_send_lag_p99_ms": at_half["send_lag_p99_ms"],
            "ack_at_rates": at_rates,
            "seconds": seconds, "generator_processes": workers, "connections": workers * connections,
            "bidders": bidders, "exchange": "exchange run, default processes",
            "machine": machine(),
            "note": "the exchange (engine, web workers, feed gateways), PostgreSQL, Redis and the generator "
                    "processes share this machine's cores",
        }

    return asyncio.run(bench())


def run_mixed_bench(seconds: float = 8.0, rate: float = 500.0, logins_per_s: float = 20.0,
                    bidders: int = 50) -> dict[str, Any]:
    """Bids at `rate` alone, then with `logins_per_s` correct logins from other generator processes."""
    async def bench() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
            # Every login must reach the password check: the bench measures the check, not the limits.
            async with exchange_process(Path(tmp), SETTINGS | {"EXCHANGE_LOGIN_PER_ACCOUNT": "1000000",
                                                               "EXCHANGE_LOGIN_PER_ADDRESS": "1000000"}) as (url, env):
                bids = await _lot(url, env, bidders)
                async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                    members = await ExchangeApi(http, run="mixed").investors(LOGIN_ACCOUNTS, with_token=False)
                logins = Logins(bids.host, bids.port, [member.email for member in members], PASSWORD)
                load = Load("open", seconds, 2, 64, rate=rate)
                warm = await _run(Load("closed", 1.0, 2, 8), bids)
                alone = await _run(load, bids, warm.next_seq)
                with_logins, storm = await asyncio.gather(
                    _run(load, bids, alone.next_seq),
                    _run(Load("open", seconds, 1, 64, rate=logins_per_s), logins))
        a, b, s = alone.figures(), with_logins.figures(), storm.figures()
        acknowledged = sum(n for status, n in with_logins.statuses.items() if status in ("201", "422"))
        return {
            "benchmark": "mixed",
            "bid_rate_per_s": rate, "logins_per_s": logins_per_s,
            "bid_ack_p99_ms_alone": a["p99_ms"], "bid_ack_p50_ms_alone": a["p50_ms"],
            "bid_ack_p99_ms_with_logins": b["p99_ms"], "bid_ack_p50_ms_with_logins": b["p50_ms"],
            "bid_ack_max_ms_with_logins": b["max_ms"],
            "bids_acknowledged_share": round(acknowledged / max(with_logins.sent, 1), 4),
            "bid_answers_alone": a["statuses"], "bid_answers_with_logins": b["statuses"],
            "login_answers": s["statuses"], "login_p50_ms": s["p50_ms"], "login_p99_ms": s["p99_ms"],
            "seconds": seconds, "machine": machine(),
            "note": "logins are correct passwords with argon2's default parameters; a 503 is the hashing "
                    "queue refusing more work",
        }

    return asyncio.run(bench())

