"""`exchange load <scenario>`: set up through the API, run the open-model load, write the report.

Only the URL given is loaded (by default an exchange started here on loopback, on embedded
PostgreSQL and Redis in a temporary directory, gone after the run).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from exchange.bench.fanout import create_operator, exchange_process
from exchange.load.api import ExchangeApi
from exchange.load.runner import Plan, Progress, Recorder, run_open, summary
from exchange.load.scenarios import (
    HotLot,
    LoginStorm,
    ManyLots,
    Options,
    Scenario,
    Target,
    TenderRush,
)
from exchange.load.watchers import Watchers

SCENARIOS: dict[str, type[Scenario]] = {s.name: s for s in (HotLot, ManyLots, Watchers, LoginStorm, TenderRush)}
LATENCY_FROM = "the intended send time of each request (open model: no coordinated omission)"


def feed_url_for(url: str) -> str:
    """The feed's default address: the target's host, its HTTP port + 1."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.hostname}:{port + 1}"


def _client(target: Target, connections: int) -> httpx.AsyncClient:
    # The load authenticates with API tokens; a session cookie kept from a login would make
    # later calls cookie calls (which need a CSRF header), so no cookie is ever kept.
    jar = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(base_url=target.url, timeout=httpx.Timeout(30.0), cookies=jar,
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


async def run_scenario(name: str, target: Target, options: Options, plan: Plan, *,
                       progress: bool = True, connections: int = 100) -> dict[str, Any]:
    """Every figure of one run, as written to report.json."""
    async with _client(target, connections) as http:
        scenario = SCENARIOS[name](ExchangeApi(http), target, options)
        setup_started = time.perf_counter()
        await scenario.prepare()
        recorder = Recorder()
        await scenario.observe(recorder)
        setup_s = time.perf_counter() - setup_started
        started_at = datetime.now(UTC)
        elapsed = await run_open(plan, scenario.operation, recorder,
                                 Progress(plan.requests, recorder) if progress else None)
        figures = await scenario.finish(recorder)
    return {
        "scenario": name,
        "description": scenario.summary,
        "target": target.url,
        "feed": target.feed_url,
        "started_at": started_at.isoformat(timespec="seconds"),
        "setup_s": round(setup_s, 2),
        "options": {k: v for k, v in asdict(options).items() if k != "operator_password"},
        "plan": asdict(plan),
        "latency_from": LATENCY_FROM,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        **summary(recorder, plan, elapsed),
        "scenario_figures": figures,
    }


@asynccontextmanager
async def self_started(options: Options, settings: dict[str, str]) -> AsyncIterator[Target]:
    """An exchange of its own on loopback (embedded servers in a temporary directory), with the
    operator and the scenario's settings."""
    with tempfile.TemporaryDirectory(prefix="exchange-load-") as tmp:
        async with exchange_process(Path(tmp), settings) as (url, env):
            create_operator(env, options.operator_email, options.operator_password)
            yield Target(url, f"ws://127.0.0.1:{env['EXCHANGE_FEED_PORT']}")


async def run_load(name: str, options: Options, plan: Plan, target: Target | None, *,
                   progress: bool = True) -> dict[str, Any]:
    if target is not None:
        return await run_scenario(name, target, options, plan, progress=progress)
    async with self_started(options, SCENARIOS[name].settings) as own:
        report = await run_scenario(name, own, options, plan, progress=progress)
        report["target"] = f"{own.url} (started by exchange load)"
        return report


def default_directory(name: str) -> Path:
    return Path("reports") / "load" / f"{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
