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
from datetime import datetime, timedelta
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


async def run_fanout(watchers: int, rate: float, duration: float, processes: int = 2) -> dict[str, Any]:
    raise_file_limit(2 * watchers + 200)
    with tempfile.TemporaryDirectory(prefix="exchange-bench-") as tmp:
        workdir = Path(tmp)
        # the lot opens at once: no 7-day auction notice in a benchmark
        async with exchange_process(workdir, {"EXCHANGE_AUCTION_NOTICE_DAYS": "0"}) as (url, env):
            auction_id, tokens = await set_up_lot(url, env, bidders=2)
            port = int(env["EXCHANGE_FEED_PORT"])
            context = multiprocessing.get_context("spawn")
            ready, results, stop = context.Queue(), context.Queue(), context.Event()
            shares = [watchers // processes + (1 if i < watchers % processes else 0) for i in range(processes)]
            workers = [context.Process(target=watch_worker, daemon=True, args=(
                "127.0.0.1", port, [f"/ws/lots/{auction_id}"] * share, ready, stop, results)) for share in shares if share]
            connect_started = time.perf_counter()
            for worker in workers:
                worker.start()
            for _ in workers:
                await asyncio.to_thread(ready.get, True, 300)
            connect_s = time.perf_counter() - connect_started
            await asyncio.sleep(1.0)
            errors = 0
            sent: list[int] = []
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
                errors = len(answers) - len(sent)
                achieved_rate = len(sent) / elapsed
            await asyncio.sleep(2.0)  # let the last frames arrive
            stop.set()
            collected = [await asyncio.to_thread(results.get, True, 300) for _ in workers]
            for worker in workers:
                worker.join(30)
    wanted = set(sent)
    latencies: list[float] = []
    received = 0
    for arrivals, _ in collected:
        for received_at, raw in arrivals:
            for event in json.loads(raw).get("events", ()):
                if event.get("type") == "bid" and event["seq"] in wanted:
                    received += 1
                    latencies.append((received_at - datetime.fromisoformat(event["at"]).timestamp()) * 1000)
    return {
        "benchmark": "fanout",
        "watchers": watchers,
        "offered_bids_per_s": rate,
        "achieved_bids_per_s": round(achieved_rate, 2),
        "bids": len(sent),
        "bid_errors": errors,
        "bid_answers": dict(answers_by_code),
        "deliveries_expected": len(sent) * watchers,
        "deliveries_received": received,
        "watchers_dropped": sum(dropped for _, dropped in collected),
        "watcher_processes": len(workers),
        "connect_s": round(connect_s, 2),
        "p50_ms": round(percentile(latencies, 0.50), 2),
        "p90_ms": round(percentile(latencies, 0.90), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2) if latencies else None,
        "latency_from": "sequencer apply time of the bid (event 'at', just before its commit) to receipt by the watcher",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "note": "the server (exchange run) and the watcher processes share this machine's cores",
    }
