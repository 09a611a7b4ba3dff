"""`exchange load` scenarios, tiny, against a real exchange: uvicorn and the lot websockets on loopback.

The figures asserted are counts (what was sent, accepted, refused, delivered), never timings.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
import uvicorn
from argon2 import PasswordHasher

from exchange.accounts.types import Registration
from exchange.calendar import default_calendar
from exchange.clock import SystemClock
from exchange.infra.db import create_pool
from exchange.load.run import SCENARIOS, run_scenario
from exchange.load.runner import Plan
from exchange.load.scenarios import Options, Target
from exchange.services import Services
from exchange.tenders.types import TenderRules
from tests.integration.helpers import free_port
from web.app import create_app
from web.feed import FeedServer

OPERATOR = ("ops@load.test", "operator password 2026")


@pytest.fixture
async def exchange(database_url: str, redis_url: str) -> AsyncIterator[Target]:
    """The exchange on the wall clock (auctions open and close by themselves, tenders open at their
    deadline), with an operator and the tender settings tender-rush starts its own exchange with."""
    pool = await create_pool(database_url, min_size=1, max_size=10)
    redis = aioredis.Redis.from_url(redis_url)
    services = Services.build(pool, redis, SystemClock(), default_calendar(),
                              PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                              tender_rules=TenderRules.from_env(SCENARIOS["tender-rush"].settings), auction_notice_days=0)
    await services.accounts.register(Registration(role="operator", email=OPERATOR[0], password=OPERATOR[1],
                                                  display_name="Load operator"), allow_operator=True)
    feed = FeedServer(services, tick=0.01)
    await feed.start("127.0.0.1", 0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services, feed_port=feed.port), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    yield Target(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{feed.port}")
    server.should_exit = True
    await asyncio.wait_for(task, 10)
    await feed.stop()
    await redis.aclose()
    await pool.close()


def _options(**values: object) -> Options:
    return Options(operator_email=OPERATOR[0], operator_password=OPERATOR[1], **values)  # type: ignore[arg-type]


async def test_hotlot_every_accepted_bid_is_committed_and_the_war_reaches_timed_rounds(exchange: Target) -> None:
    options = _options(rate=10.0, duration=2.0, bidders=3, quiet_period_s=5)
    report = await run_scenario("hotlot", exchange, options, Plan(10, 2.0), progress=False)
    bid = report["operations"]["bid"]
    assert report["sent"] == report["planned_requests"] == 20
    assert report["error_total"] == 0 and report["limited_total"] == 0
    assert bid["ok"] + bid["rejected"] == 20
    assert report["scenario_figures"]["bids_committed"] == bid["ok"] > 0
    assert report["scenario_figures"]["phase_at_end"] in {"free", "timed"}
    assert bid["latency_ms"]["p99"] is not None


async def test_login_storm_counts_wrong_passwords_as_refusals_not_errors(exchange: Target) -> None:
    options = _options(rate=10.0, duration=1.5, bidders=3, wrong_password_share=0.2)
    report = await run_scenario("login-storm", exchange, options, Plan(10, 1.5), progress=False)
    login = report["operations"]["login"]
    assert report["sent"] == 15
    assert (login["ok"], login["rejected"], login["limited"], login["error"]) == (12, 3, 0, 0)
    assert login["codes"] == {"rejected:wrong_password": 3}
    assert report["scenario_figures"]["wrong_password_attempts"] == 3


async def test_watchers_receive_every_accepted_bid_of_their_lot(exchange: Target) -> None:
    options = _options(rate=4.0, duration=1.5, bidders=2, watchers=10, lots=2, watcher_processes=1)
    report = await run_scenario("watchers", exchange, options, Plan(4, 1.5), progress=False)
    figures = report["scenario_figures"]
    assert report["operations"]["bid"]["ok"] == figures["bids_accepted"] == 6
    assert figures["hot_lot_watchers"] == 8 and figures["watchers_dropped"] == 0
    assert figures["deliveries_expected"] == 3 * 8 + 3 * 2
    assert figures["deliveries_received"] == figures["deliveries_expected"]
    assert report["operations"]["delivery"]["count"] == figures["deliveries_received"]
    assert report["operations"]["delivery"]["observed"] is True


async def test_tender_rush_records_one_proposal_per_accepted_answer_and_retries_replay_it(
        exchange: Target, database_url: str) -> None:
    options = _options(rate=10.0, duration=2.0, bidders=4)
    report = await run_scenario("tender-rush", exchange, options, Plan(10, 2.0), progress=False)
    figures, operations = report["scenario_figures"], report["operations"]
    assert report["sent"] == 20 and report["error_total"] == 0 and report["limited_total"] == 0
    assert operations["proposal"]["count"] == figures["bidders_who_sent"] == 4
    assert operations["retry"]["count"] == 16
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        recorded = await pool.fetchval("SELECT count(*) FROM tender_proposals WHERE tender_id = $1",
                                       figures["tender_id"])
    finally:
        await pool.close()
    assert recorded == figures["proposals_accepted"] == figures["proposals_recorded"] == 4
    replayed = sum(op["codes"].get("ok:replayed", 0) for op in operations.values())
    assert replayed + figures["proposals_accepted"] + report["rejected_total"] == 20
    assert figures["status_after_deadline"] == "opened" and figures["revealed_at_opening"] == 4
