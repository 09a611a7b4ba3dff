"""Fan-out benchmark: many websocket watchers of one lot while bids arrive at a steady rate.

It starts embedded PostgreSQL and Redis in a temporary directory and the exchange itself
as a separate process (`exchange run`), sets up a lot through the public API, opens the
watchers from two watcher processes (bare sockets on epoll, so the load generator costs
far less than the server it measures), then places bids over HTTP at `--rate` per second
for `--duration` seconds, each at its intended time. Latency is measured per (watcher,
bid): from the moment the sequencer applied the bid (the event's `at`, just before its
commit) to the moment the watcher's socket returned the frame's bytes. Both clocks are
this machine's. Frames are parsed only after the run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import platform
import re
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from exchange.bench import percentile
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.processes import die_with_parent
from exchange.load.api import ExchangeApi, soon

PASSWORD = "bench-password-2026"  # noqa: S105 - the benchmark's own throwaway accounts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_file_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


@asynccontextmanager
async def exchange_process(workdir: Path, settings: Mapping[str, str] | None = None,
                           ) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Embedded PostgreSQL + Redis and `exchange run` on them (`settings`: EXCHANGE_* variables
    beside the defaults); yields the base URL and the environment."""
    postgres = EmbeddedPostgres(workdir / "postgres")
    redis = EmbeddedRedis(workdir / "redis", persistent=False)
    database_url, redis_url = postgres.start(), redis.start()
    port = _free_port()
    env = os.environ | {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "EXCHANGE_VAR_DIR": str(workdir / "var"),
        "EXCHANGE_LOAD_DEMO": "0", "EXCHANGE_LOG_LEVEL": "WARNING", "EXCHANGE_FEED_PORT": str(_free_port()),
        "EXCHANGE_ENGINE_PORT": str(_free_port()),
        # thousands of watchers come from this one address
        "EXCHANGE_FEED_PER_ADDRESS": "0",
    } | dict(settings or {})
    log = (workdir / "exchange.log").open("w")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [sys.executable, "-m", "web.cli", "run", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,  # noqa: PLW1509
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if (await http.get(f"{url}/healthz", timeout=1)).json().get("engine") == "ok":
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the exchange did not start; see " + str(workdir / "exchange.log"))
                await asyncio.sleep(0.2)
        yield url, env
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        redis.stop()
        postgres.stop()


def create_operator(env: dict[str, str], email: str, password: str) -> None:
    """An operator account on the exchange process of `env`, through the `exchange` command."""
    subprocess.run(
        [sys.executable, "-m", "web.cli", "operator", "create", "--email", email, "--name", "Load and bench"],
        env=env | {"EXCHANGE_OPERATOR_PASSWORD": password}, check=True, capture_output=True,
    )


async def set_up_lot(url: str, env: dict[str, str], bidders: int) -> tuple[int, list[dict[str, str]]]:
    """An announced listing, an auction opening in 2 s, `bidders` approved investors with tokens."""
    create_operator(env, "ops@bench.test", PASSWORD)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        api = ExchangeApi(http, run="bench")
        operator = await api.token("ops@bench.test", PASSWORD)
        seller = await api.register("institution", "seller")
        opens = soon(2)
        auction_id = await api.lot(operator, seller, 0, opens_at=opens, scheduled_end=opens + timedelta(hours=1),
                                   quiet_period_s=300, start_price=1_000_000, increment=100)
        investors = await api.investors(bidders)
        for investor in investors:
            await api.approve(operator, auction_id, investor)
        await api.wait_open([auction_id])
    return auction_id, [investor.headers for investor in investors]


def _handshake(host: str, port: int, path: str) -> socket.socket:
    """A websocket opened by hand; returns once the snapshot frame has been read."""
    sock = socket.create_connection((host, port), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the feed closed the connection during the handshake")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace")[:200])
    frames, rest = _frames(rest)
    while not frames:  # the snapshot
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the feed closed the connection before the snapshot")
        more, rest = _frames(rest + chunk)
        frames.extend(more)
    sock.setblocking(False)
    return sock


def _frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete unmasked server frames' payloads (text only) and the incomplete rest."""
    found: list[bytes] = []
    at = 0
    while len(buffer) - at >= 2:
        opcode, length, start = buffer[at] & 0x0F, buffer[at + 1] & 0x7F, at + 2
        if length == 126:
            if len(buffer) - at < 4:
                break
            length, start = int.from_bytes(buffer[at + 2: at + 4], "big"), at + 4
        elif length == 127:
            if len(buffer) - at < 10:
                break
            length, start = int.from_bytes(buffer[at + 2: at + 10], "big"), at + 10
        if len(buffer) < start + length:
            break
        if opcode == 0x1:
            found.append(buffer[start: start + length])
        at = start + length
    return found, buffer[at:]


def watch_worker(host: str, port: int, paths: list[str], ready: Any, stop: Any, results: Any) -> None:
    """One process holding a watcher per path: a bare epoll loop that only timestamps what arrives.

    Thousands of watchers must cost this machine far less than the server they measure, so
    there is no event loop, task or parsing while the load runs; frames are parsed after.
    """
    sockets = [_handshake(host, port, path) for path in paths]
    by_fd = {sock.fileno(): sock for sock in sockets}
    chunks: dict[int, list[tuple[float, bytes]]] = {fd: [] for fd in by_fd}
    closed: set[int] = set()
    poller = select.epoll()
    for fd in by_fd:
        poller.register(fd, select.EPOLLIN)
    ready.put(len(sockets))
    clock = time.time
    while not stop.is_set():
        for fd, _ in poller.poll(0.2):
            try:
                data = by_fd[fd].recv(262144)
            except BlockingIOError:
                continue
            if data:
                chunks[fd].append((clock(), data))
            else:
                poller.unregister(fd)
                closed.add(fd)
    arrivals: list[tuple[float, str]] = []
    for received in chunks.values():
        rest = b""
        for arrived_at, data in received:
            complete, rest = _frames(rest + data)
            arrivals.extend((arrived_at, payload.decode()) for payload in complete)
    for sock in sockets:
        sock.close()
    results.put((arrivals, len(closed)))


class Watchers:
    """`count` websocket watchers of `path`, held by `processes` processes; `collect` after the run."""

    def __init__(self, port: int, path: str, count: int, processes: int = 2) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._results, self._stop = context.Queue(), context.Queue(), context.Event()
        shares = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
        self.workers = [context.Process(target=watch_worker, daemon=True, args=(
            "127.0.0.1", port, [path] * share, self._ready, self._stop, self._results)) for share in shares if share]
        self.connect_s = 0.0

    async def connect(self) -> None:
        started = time.perf_counter()
        for worker in self.workers:
            worker.start()
        for _ in self.workers:
            await asyncio.to_thread(self._ready.get, True, 300)
        self.connect_s = time.perf_counter() - started

    async def collect(self) -> tuple[list[tuple[float, str]], int]:
        """Every frame received (with when), and how many watchers were dropped."""
        self._stop.set()
        collected = [await asyncio.to_thread(self._results.get, True, 300) for _ in self.workers]
        for worker in self.workers:
            worker.join(30)
        return [a for arrivals, _ in collected for a in arrivals], sum(dropped for _, dropped in collected)


def bid_latencies(arrivals: list[tuple[float, str]], wanted: set[int] | None = None) -> list[float]:
    """Per (watcher, bid event): ms from the event's `at` to the watcher's receipt."""
    latencies = []
    for received_at, raw in arrivals:
        for event in json.loads(raw).get("events", ()):
            if event.get("type") == "bid" and (wanted is None or event["seq"] in wanted):
                latencies.append((received_at - datetime.fromisoformat(event["at"]).timestamp()) * 1000)
    return latencies


def _ms(values: list[float]) -> dict[str, float | None]:
    return {"p50_ms": round(percentile(values, 0.50), 2), "p90_ms": round(percentile(values, 0.90), 2),
            "p99_ms": round(percentile(values, 0.99), 2), "max_ms": round(max(values), 2) if values else None}


def floor_server(port: int, rate: float, duration: float, ready: Any, go: Any, done: Any) -> None:
    """The floor: a bare `websockets` server broadcasting frames like the exchange's, at `rate`,
    to every connection, with one `websockets.broadcast` call per frame (on uvloop, as the
    exchange's gateways run)."""
    import uvloop
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    template = {"lot": 1, "type": "bid", "price": 0, "leader": "A001", "minimum_bid": 0,
                "close_at": "2026-12-02T12:00:00+00:00", "phase": "free",
                "bid": {"code": "A001", "price": 0, "leader": "A001", "proxy": False, "at": ""}}

    async def main() -> None:
        connections: set[ServerConnection] = set()

        async def handler(connection: ServerConnection) -> None:
            connections.add(connection)
            await connection.send(json.dumps({"type": "snapshot", "room": {"seq": 0}}))
            await connection.wait_closed()
            connections.discard(connection)

        async with serve(handler, "127.0.0.1", port, compression=None, max_size=2048, ping_interval=None):
            ready.put(True)
            await asyncio.to_thread(go.wait)
            start, sent = time.perf_counter(), 0
            for n in range(int(rate * duration)):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                at = datetime.now(UTC).isoformat()
                price = 1_000_000 + n * 100
                event = template | {"seq": n + 1, "at": at, "price": price, "minimum_bid": price + 100,
                                    "bid": template["bid"] | {"price": price, "at": at}}  # type: ignore[operator]
                broadcast(connections, json.dumps({"type": "events", "events": [event]}, separators=(",", ":")))
                sent += 1
            done.put(sent)
            await asyncio.sleep(3600)

    uvloop.run(main())


async def _floor(watchers: int, rate: float, duration: float) -> dict[str, Any]:
    """The same frames at the same rate to the same number of watchers from a bare broadcast server."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Queue(), context.Event(), context.Queue()
    port = _free_port()
    server = context.Process(target=floor_server, args=(port, rate, duration, ready, go, done), daemon=True)
    server.start()
    try:
        await asyncio.to_thread(ready.get, True, 60)
        watching = Watchers(port, "/ws/lots/1", watchers)
        await watching.connect()
        await asyncio.sleep(1.0)
        go.set()
        sent = await asyncio.to_thread(done.get, True, duration + 120)
        await asyncio.sleep(2.0)
        arrivals, dropped = await watching.collect()
    finally:
        server.kill()
        server.join(10)
    latencies = bid_latencies(arrivals)
    return {"frames": sent, "deliveries_expected": sent * watchers, "deliveries_received": len(latencies),
            "watchers_dropped": dropped} | _ms(latencies)


async def run_fanout(watchers: int, rate: float, duration: float, processes: int = 2) -> dict[str, Any]:
    raise_file_limit(2 * watchers + 200)
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        workdir = Path(tmp)
        # the lot opens at once: no 7-day auction notice in a benchmark
        async with exchange_process(workdir, {"EXCHANGE_AUCTION_NOTICE_DAYS": "0"}) as (url, env):
            auction_id, tokens = await set_up_lot(url, env, bidders=2)
            watching = Watchers(int(env["EXCHANGE_FEED_PORT"]), f"/ws/lots/{auction_id}", watchers, processes)
            await watching.connect()
            await asyncio.sleep(1.0)
            answers_by_code: Counter[str] = Counter()
            async with httpx.AsyncClient(base_url=url, timeout=30,
                                         limits=httpx.Limits(max_connections=100)) as http:
                interval = 1.0 / rate
                total = int(rate * duration)
                price = 1_000_000

                async def place(n: int, amount: int) -> int | None:
                    response = await http.post(f"/api/lots/{auction_id}/bids", json={"amount": amount},
                                               headers=tokens[n % 2] | {"Idempotency-Key": f"fan-{n}"})
                    code = response.json().get("code", "") if response.status_code != 201 else ""
                    answers_by_code[f"{response.status_code} {code}".strip()] += 1
                    return int(response.json()["seq"]) if response.status_code == 201 else None

                # An open loop: each bid leaves at its intended time whether or not the last one was answered.
                start = time.perf_counter()
                bids = []
                for n in range(total):
                    delay = start + n * interval - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    bids.append(asyncio.create_task(place(n, price + n * 100)))
                answers = await asyncio.gather(*bids)
                elapsed = time.perf_counter() - start
                sent = [seq for seq in answers if seq is not None]
                achieved_rate = len(sent) / elapsed
            await asyncio.sleep(2.0)  # let the last frames arrive
            arrivals, dropped = await watching.collect()
            layout = re.search(r"(\d+) feed gateways", (workdir / "exchange.log").read_text())
            feed_processes = int(layout.group(1)) if layout else None
    latencies = bid_latencies(arrivals, set(sent))
    floor = await _floor(watchers, rate, duration)
    return {
        "benchmark": "fanout",
        "watchers": watchers,
        "offered_bids_per_s": rate,
        "achieved_bids_per_s": round(achieved_rate, 2),
        "bids": len(sent),
        "bid_errors": len(answers) - len(sent),
        "bid_answers": dict(answers_by_code),
        "deliveries_expected": len(sent) * watchers,
        "deliveries_received": len(latencies),
        "watchers_dropped": dropped,
        "watcher_processes": len(watching.workers),
        "feed_gateways": feed_processes,
        "connect_s": round(watching.connect_s, 2),
        **_ms(latencies),
        "latency_from": "the bid's receipt by the exchange (event 'at': stamped by the web worker that read "
                        "it) to receipt by the watcher; the engine's commit and Redis are on the way",
        "floor": floor,
        "floor_is": "a bare websockets server (one process, uvloop) sending frames of the same size at the same "
                    "rate to the same number of watchers with one websockets.broadcast per frame; latency from "
                    "the frame's creation to receipt",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "note": "the exchange (every process), PostgreSQL, Redis and the watcher processes share this machine's cores",
    }
