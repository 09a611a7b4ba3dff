"""`exchange run` as a user starts it: a supervisor, the engine, web workers and feed gateways,
each a real OS process, on the session's embedded PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from exchange.bench.fanout import create_operator
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.processes import die_with_parent
from exchange.load.api import ExchangeApi, Party, soon
from tests.integration.helpers import free_port

OPERATOR = ("ops@processes.test", "processes-test-password")
_databases = itertools.count(1)


@dataclass
class Running:
    url: str
    feed: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]

    def children(self) -> dict[int, str]:
        """pid -> role of each process the supervisor started."""
        found: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid != self.process.pid:
                    continue
                argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if b"--role" in argv:
                found[int(stat.parent.name)] = argv[argv.index(b"--role") + 1].decode()
        return found

    def pids(self, role: str) -> list[int]:
        return sorted(pid for pid, each in self.children().items() if each == role)

    def signal(self, role: str, signum: int, index: int = 0) -> int:
        pid = self.pids(role)[index]
        os.kill(pid, signum)
        return pid

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"{self.url}/healthz", timeout=1)).json().get("engine") == "ok":
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the exchange did not become ready:\n{self.log.read_text()[-6000:]}")
                await asyncio.sleep(0.1)

    async def wait_restarted(self, role: str, dead: int, count: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not (len(self.pids(role)) == count and dead not in self.pids(role)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{role} was not restarted:\n{self.log.read_text()[-4000:]}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def exchange_processes(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, workdir: Path, *, web: int = 2, feed: int = 2,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[Running]:
    """`exchange run --web-workers web --feed-workers feed` on a fresh database; stopped with SIGTERM."""
    redis_server.flush()  # each exchange starts with no rate-limit counts of the tests before
    database = f"processes_{next(_databases)}"
    pg_server.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    pg_server.psql(f"CREATE DATABASE {database}")
    port, feed_port, engine_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "DATABASE_URL": pg_server.url(database), "REDIS_URL": redis_server.url, "EXCHANGE_VAR_DIR": str(workdir),
        "EXCHANGE_LOAD_DEMO": "0", "EXCHANGE_LOG_LEVEL": "INFO", "EXCHANGE_AUCTION_NOTICE_DAYS": "0",
        "EXCHANGE_FEED_PORT": str(feed_port), "EXCHANGE_ENGINE_PORT": str(engine_port),
        "EXCHANGE_SECRET_KEY": "processes-test-secret",
    } | (settings or {})
    log = workdir / "exchange.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before the test's clock matters
            [sys.executable, "-m", "web.cli", "run", "--port", str(port), "--web-workers", str(web),
             "--feed-workers", str(feed)], env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent)  # noqa: PLW1509 - the test process starts nothing else meanwhile
    running = Running(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{feed_port}", process, log, env)
    try:
        await running.wait_ready()
        yield running
    finally:
        for pid in running.pids("engine"):  # a test may have left it stopped
            os.kill(pid, signal.SIGCONT)
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        leftovers = running.children()
        assert leftovers == {}, f"processes left behind: {leftovers}"


@dataclass
class Market:
    api: ExchangeApi
    operator: dict[str, str]
    seller: Party
    bidders: list[Party] = field(default_factory=list)


async def market(running: Running, http: httpx.AsyncClient, bidders: int) -> Market:
    await asyncio.to_thread(create_operator, running.env, *OPERATOR)
    api = ExchangeApi(http)
    operator = await api.token(*OPERATOR)
    seller = await api.register("institution", "seller")
    return Market(api, operator, seller, await api.investors(bidders))


async def auction(m: Market, *, opens_at: datetime, scheduled_end: datetime, quiet_period_s: int,
                  start_price: int = 1_000_000, increment: int = 1_000) -> int:
    auction_id = await m.api.lot(m.operator, m.seller, 0, opens_at=opens_at, scheduled_end=scheduled_end,
                                 quiet_period_s=quiet_period_s, start_price=start_price, increment=increment)
    for bidder in m.bidders:
        await m.api.approve(m.operator, auction_id, bidder)
    return auction_id


async def open_auction(running: Running, http: httpx.AsyncClient, bidders: int) -> tuple[Market, int]:
    """A market with `bidders` qualified investors and an auction open for an hour of free bidding."""
    m = await market(running, http, bidders)
    opens = soon(1)
    auction_id = await auction(m, opens_at=opens, scheduled_end=opens + timedelta(hours=1), quiet_period_s=300)
    await m.api.wait_open([auction_id])
    return m, auction_id


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Waits (polling) until `condition` holds; a timeout fails with `what`."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # noqa: ASYNC110 - a predicate over other processes' results
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(0.02)


async def bid_until_answered(url: str, bidder: Party, auction_id: int, amount: int, key: str,
                             timeout_s: float = 60.0) -> httpx.Response:
    """A bid on a connection of its own, sent again with the same key while the exchange cannot
    answer (a process restarting): what a careful client does."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with httpx.AsyncClient(base_url=url, timeout=15) as http:
                answer = await http.post(f"/api/lots/{auction_id}/bids", json={"amount": amount},
                                         headers=bidder.headers | {"Idempotency-Key": key})
            if answer.status_code != 503:
                return answer
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"bid {key} not answered within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


class Watcher:
    """A lot websocket that reconnects when dropped and resynchronises from the snapshot."""

    def __init__(self, feed: str, auction_id: int) -> None:
        self.url = f"{feed}/ws/lots/{auction_id}"
        self.seq = 0
        self.bids: dict[int, int] = {}
        """seq -> price of each bid event seen, from frames or snapshots."""
        self.connections = 0
        self.gaps = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=5) as socket:
                    self.connections += 1
                    await self._follow(socket)
            except (OSError, TimeoutError, Exception):  # noqa: BLE001 - reconnect, as the room page does
                await asyncio.sleep(0.1)

    async def _follow(self, socket: ClientConnection) -> None:
        async for raw in socket:
            message: dict[str, Any] = json.loads(raw)
            if message["type"] == "snapshot":
                room = message["room"]
                self.seq = max(self.seq, room["seq"])
            elif message["type"] == "events":
                for event in message["events"]:
                    if event["seq"] <= self.seq:
                        continue
                    if event["seq"] != self.seq + 1:
                        self.gaps += 1
                        await socket.send(json.dumps({"type": "resync"}))
                        break
                    self.seq = event["seq"]
                    if event["type"] == "bid":
                        self.bids[event["seq"]] = event["price"]
