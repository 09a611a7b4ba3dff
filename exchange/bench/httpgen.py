"""A light HTTP/1.1 load generator for the benchmarks, in processes of its own.

Each generator process runs on uvloop and keeps raw keep-alive connections (asyncio streams:
a request is one write, an answer one header read and one body read), so it costs the
machine far less per request than the exchange it measures. Bids on one lot carry amounts
from one counter shared by every generator process: each request takes the next amount and
the next bidder, so bids arrive nearly in amount order, as in a bidding war, and most are
accepted.

Two ways to load:
- closed: every connection sends its next request as soon as the answer to the last came
  (the peak the exchange answers);
- open: request i leaves at start + i / rate whatever happened before, and its latency is
  measured from that intended time, so a stalled exchange shows the queue it builds.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from exchange.bench import percentile


@dataclass(frozen=True)
class Bids:
    """What to send: bids on `lot` by the holders of `authorizations`, amounts on the grid."""

    host: str
    port: int
    lot: int
    authorizations: list[str]
    start_price: int
    step: int
    key_prefix: str


@dataclass(frozen=True)
class Logins:
    """Correct logins, taking the accounts in turn (a storm of many users, not one)."""

    host: str
    port: int
    emails: list[str]
    password: str


@dataclass(frozen=True)
class Load:
    mode: str  # "closed" | "open"
    seconds: float
    workers: int = 2
    connections: int = 32
    """Per generator process."""
    rate: float = 0.0
    """Requests per second in all, for "open"."""


@dataclass
class Outcome:
    sent: int = 0
    answered: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    send_lag_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    next_seq: int = 0
    """The shared sequence after the run: where a following run starts."""

    def merge(self, other: Outcome) -> None:
        self.sent += other.sent
        self.answered += other.answered
        self.statuses.update(other.statuses)
        self.latencies_ms.extend(other.latencies_ms)
        self.send_lag_ms.extend(other.send_lag_ms)
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)

    def figures(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "sent": self.sent, "answered": self.answered,
            "answered_per_s": round(self.answered / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "statuses": dict(sorted(self.statuses.items())),
            "p50_ms": round(percentile(lat, 0.50), 2), "p90_ms": round(percentile(lat, 0.90), 2),
            "p99_ms": round(percentile(lat, 0.99), 2), "max_ms": round(max(lat), 2) if lat else None,
            "send_lag_p99_ms": round(percentile(self.send_lag_ms, 0.99), 2) if self.send_lag_ms else None,
        }


def _bid_request(bids: Bids, seq: int) -> bytes:
    body = json.dumps({"amount": bids.start_price + seq * bids.step}).encode()
    auth = bids.authorizations[seq % len(bids.authorizations)]
    return (f"POST /api/lots/{bids.lot}/bids HTTP/1.1\r\nHost: {bids.host}:{bids.port}\r\n"
            f"Authorization: {auth}\r\nIdempotency-Key: {bids.key_prefix}-{seq}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def _login_request(logins: Logins, seq: int) -> bytes:
    body = json.dumps({"email": logins.emails[seq % len(logins.emails)], "password": logins.password}).encode()
    return (f"POST /api/session HTTP/1.1\r\nHost: {logins.host}:{logins.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> str:
    """One request on a keep-alive connection; the answer's status (its body is read and dropped)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head[9:12].decode()
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


class _Counter:
    """The next sequence number, shared by every generator process."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared

    def next(self) -> int:
        with self._shared.get_lock():
            value = int(self._shared.value)
            self._shared.value = value + 1
        return value


async def _generate(target: Bids | Logins, load: Load, index: int, counter: _Counter, start_at: float) -> Outcome:
    outcome = Outcome()
    host, port = target.host, target.port
    make = _bid_request if isinstance(target, Bids) else _login_request
    due: asyncio.Queue[float] = asyncio.Queue()
    stop_at = start_at + load.seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                if load.mode == "closed":
                    intended = time.perf_counter()
                    if intended >= stop_at:
                        return
                else:
                    intended = await due.get()
                    if intended < 0:
                        return
                    outcome.send_lag_ms.append((time.perf_counter() - intended) * 1000)
                outcome.sent += 1
                try:
                    status = await _exchange(reader, writer, make(target, counter.next()))  # type: ignore[arg-type]
                except (OSError, asyncio.IncompleteReadError):
                    outcome.statuses["broken"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                outcome.answered += 1
                outcome.statuses[status] += 1
                outcome.latencies_ms.append((time.perf_counter() - intended) * 1000)
        finally:
            writer.close()

    await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
    tasks = [asyncio.create_task(connection()) for _ in range(load.connections)]
    if load.mode == "open":
        total = int(load.rate * load.seconds)
        for i in range(index, total, load.workers):
            intended = start_at + i / load.rate
            delay = intended - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due.put_nowait(intended)
        for _ in tasks:
            due.put_nowait(-1.0)
    await asyncio.gather(*tasks)
    outcome.elapsed_s = time.perf_counter() - start_at
    return outcome


def _worker(target: Bids | Logins, load: Load, index: int, shared: Any, start_at: float, results: Any) -> None:
    import uvloop

    results.put(uvloop.run(_generate(target, load, index, _Counter(shared), start_at)))


def generate(target: Bids | Logins, load: Load, *, first: int = 0) -> Outcome:
    """Runs the load from `load.workers` fresh processes and merges what they measured.
    `first`: where the shared sequence starts (amounts and keys of an earlier run stay unique)."""
    context = multiprocessing.get_context("spawn")
    shared = context.Value("q", first)
    results = context.Queue()
    start_at = time.perf_counter() + 2.0  # every process started and connected before the first send
    workers = [context.Process(target=_worker, args=(target, load, i, shared, start_at, results), daemon=True)
               for i in range(load.workers)]
    for worker in workers:
        worker.start()
    merged = Outcome()
    collected = 0
    deadline = time.perf_counter() + load.seconds + 120
    while collected < len(workers):
        try:
            merged.merge(results.get(timeout=1.0))
            collected += 1
        except queue.Empty:
            if all(not w.is_alive() for w in workers) or time.perf_counter() > deadline:
                codes = [w.exitcode for w in workers]
                raise RuntimeError(f"generator processes ended without their figures (exit codes {codes})") from None
    for worker in workers:
        worker.join(30)
    merged.next_seq = int(shared.value)
    return merged
