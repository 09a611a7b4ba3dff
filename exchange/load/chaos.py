"""`exchange chaos`: a bidding war on an exchange of its own while its parts fail, audited from outside.

It starts `exchange run` on its embedded default (PostgreSQL and Redis under a temporary
directory, 2 web workers, 2 feed gateways), opens a few auctions with a long free-bidding
period, and bids over HTTP at a fixed rate, each bid one increment above the last amount sent
on its lot with an Idempotency-Key of its own; a bid answered 503 or cut off is sent again
with the same key, with backoff, as a careful client does. Websocket watchers follow every lot.
Meanwhile faults are injected one at a time, each once the exchange has recovered from the one
before: kill -9 of the engine, of a web worker, of a feed gateway; Redis stopped (SIGSTOP) for a
few seconds; Redis killed and started again; PostgreSQL shut down immediately and started
again. The exchange's supervisor restarts its own processes, not the servers: those the chaos
run starts again itself, on the same data directory and socket, as an operator would. One more
fault runs only when named: PostgreSQL ending every session of the exchange but the engine lock's.

Then the audit: every acknowledged bid is in its lot's event log once, as acknowledged; nothing
is in the log that no client sent; every key sent again gets its first answer; every watcher's
frames were contiguous on each connection and it saw every event; `exchange ledger check` and
`exchange verify` pass; SIGTERM stops the exchange within seconds with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import redis as redis_sync
from websockets.asyncio.client import ClientConnection, connect

from exchange.bench.fanout import create_operator
from exchange.infra.embedded import DATABASE_NAME, EmbeddedPostgres, EmbeddedRedis
from exchange.infra.processes import die_with_parent
from exchange.load.api import ExchangeApi, bounded, soon
from exchange.load.scenarios import START_PRICE, STEP

FAULTS = ("engine", "web", "feed", "redis-stop", "redis-kill", "postgres-kill")
"""The default schedule, in this order."""
EXTRA_FAULTS = ("postgres-drop",)
"""Injected only when named: PostgreSQL ends every session of the exchange but the engine lock's."""
_DROP_SESSIONS = """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
   AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"""
OPERATOR = ("ops@chaos.test", "chaos-operator-password-2026")
RETRY_FOR_S = 30.0
"""A client sends a bid again (503, a broken connection, a timeout) for this long, then gives up."""
REQUEST_TIMEOUT_S = 10.0
REDIS_STOP_S = 5.0
SERVER_DOWN_S = 3.0
HEALTHY_FOR_S = 1.0
"""/healthz answered ok this long, and a bid sent after the fault acknowledged: recovered."""
RECOVERY_LIMIT_S = 90.0
SETTLE_S = 3.0
STOP_LIMIT_S = 25.0


@dataclass(frozen=True)
class ChaosOptions:
    duration: float = 60.0
    rate: float = 60.0
    faults: tuple[str, ...] = FAULTS
    seed: int = 1
    lots: int = 3
    bidders: int = 4
    watchers: int = 3
    """per lot"""
    redis_stop_s: float = REDIS_STOP_S
    server_down_s: float = SERVER_DOWN_S
    workdir: Path | None = None
    """where the exchange keeps its data and log, kept after the run (default: a temporary directory)"""


@dataclass
class Bid:
    n: int
    lot: int
    amount: int
    bidder: int
    key: str
    attempts: int = 0
    unavailable: int = 0
    broken: int = 0
    status: int | None = None
    answer: dict[str, Any] | None = None
    answered_attempt_at: float | None = None
    answered_at: float | None = None
    gave_up: bool = False


@dataclass
class Fault:
    name: str
    began_at: float
    """when its injection began (a server's shutdown takes a moment): the previous fault's window ends"""
    injected_at: float
    detail: str = ""
    back_after_s: float | None = None
    healthy_after_s: float | None = None
    next_ack_after_s: float | None = None
    answered_503: int = 0
    broken_connections: int = 0


class Exchange:
    """`exchange run` as its user starts it on the embedded default, under `workdir`."""

    def __init__(self, workdir: Path, web: int = 2, feed: int = 2) -> None:
        self.var = workdir / "var"
        self.log_path = workdir / "exchange.log"
        port, feed_port, engine_port = _free_port(), _free_port(), _free_port()
        self.url, self.feed_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{feed_port}"
        self.workers = {"engine": 1, "web": web, "feed": feed}
        self.postgres = EmbeddedPostgres(self.var / "postgres")
        self.restarted_redis: list[EmbeddedRedis] = []
        self.restarted_redis_pids: set[int] = set()
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
            "EXCHANGE_VAR_DIR": str(self.var), "EXCHANGE_LOAD_DEMO": "0", "EXCHANGE_LOG_LEVEL": "INFO",
            "EXCHANGE_AUCTION_NOTICE_DAYS": "0", "EXCHANGE_FEED_PORT": str(feed_port),
            "EXCHANGE_ENGINE_PORT": str(engine_port)}
        self.argv = [sys.executable, "-m", "web.cli", "run", "--port", str(port),
                     "--web-workers", str(web), "--feed-workers", str(feed)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def redis_socket(self) -> Path:
        return self.var / "redis" / "redis.sock"

    @property
    def tool_env(self) -> dict[str, str]:
        """For `exchange` commands run beside it: its servers, named."""
        return self.env | {"DATABASE_URL": self.postgres.url(DATABASE_NAME), "REDIS_URL": f"unix://{self.redis_socket}",
                           "EXCHANGE_LOG_LEVEL": "WARNING"}

    async def start(self, timeout_s: float = 120.0) -> None:
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,  # noqa: ASYNC220
                                            start_new_session=True, preexec_fn=die_with_parent)  # noqa: PLW1509
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while not await _healthy(http):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the exchange did not start; the end of its log:\n{self.log_tail(40)}")
                await asyncio.sleep(0.2)

    def children(self) -> dict[int, str]:
        """pid -> role of each live process the supervisor started."""
        found: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if self.process is None or int(fields[1]) != self.process.pid or fields[0] == "Z":
                    continue
                argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except (OSError, IndexError, ValueError):
                continue
            if b"--role" in argv:
                found[int(stat.parent.name)] = argv[argv.index(b"--role") + 1].decode()
        return found

    def pids(self, role: str) -> list[int]:
        return sorted(pid for pid, each in self.children().items() if each == role)

    def redis_pid(self) -> int:
        client = redis_sync.Redis(unix_socket_path=str(self.redis_socket), socket_timeout=2)
        try:
            return int(client.info("server")["process_id"])
        finally:
            client.close()

    def log_tail(self, lines: int) -> str:
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        return "\n".join(text[-lines:])

    def problems_logged(self) -> list[str]:
        """Each distinct ERROR or CRITICAL line of its log (timestamps aside): how often, and its first time."""
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        seen: dict[str, list[Any]] = {}
        for line in text:
            stamp, _, message = line.partition(",")
            if " ERROR " in line or " CRITICAL " in line:
                entry = seen.setdefault(re.sub(r"\d+", "#", message[4:]), [0, stamp, line])
                entry[0] += 1
        return [f"{count}x, first {line}" for count, _, line in seen.values()]

    async def stop(self) -> dict[str, Any]:
        """SIGTERM, as a service manager stops it: exit code, seconds, and what it left running."""
        assert self.process is not None
        children = self.children()
        servers = {"postgres": _postmaster_pid(self.postgres.data_dir)}
        try:
            if (redis_pid := self.redis_pid()) not in self.restarted_redis_pids:
                servers["redis"] = redis_pid  # the exchange's own: it stops it
        except (redis_sync.RedisError, OSError):
            pass
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = await asyncio.to_thread(self.process.wait, STOP_LIMIT_S + 35)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - started
        left = [f"{role} {pid}" for pid, role in (children | {p: n for n, p in servers.items() if p}).items()
                if _alive(pid)]
        return {"exit_code": code, "seconds": round(seconds, 2), "left_running": left}

    async def clean_up(self) -> None:
        """Whatever is still running after a failure, and the Redis servers this run started again."""
        if self.process is not None and self.process.poll() is None:
            for pid in self.children():
                os.kill(pid, signal.SIGCONT)
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
            for pid in self.children():
                os.kill(pid, signal.SIGKILL)
        for redis in self.restarted_redis:
            await asyncio.to_thread(redis.stop)
        await asyncio.to_thread(self.postgres.stop, even_if_found_running=True)
        try:
            os.kill(self.redis_pid(), signal.SIGKILL)
        except (redis_sync.RedisError, OSError):
            pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


async def _healthy(http: httpx.AsyncClient) -> bool:
    try:
        answer = await http.get("/healthz")
        body = answer.json()
    except (httpx.HTTPError, ValueError):
        return False
    return answer.status_code == 200 and all(body.get(k) == "ok" for k in ("database", "redis", "engine"))


class Watcher:
    """A lot websocket as a careful client follows it: reconnects, and fetches from the event log
    (`GET /api/auctions/{id}/events?after=N`) what it missed while away or in a gap."""

    def __init__(self, feed_url: str, http: httpx.AsyncClient, lot: int) -> None:
        self.url, self.http, self.lot = f"{feed_url}/ws/lots/{lot}", http, lot
        self.first: int | None = None
        self.last = 0
        self.seen: dict[int, tuple[str, int | None]] = {}
        self.connections = 0
        self.frame_gaps = 0
        self.filled = 0
        self.repeated = 0

    async def run(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=5, close_timeout=1) as ws:
                    self.connections += 1
                    await self._follow(ws)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001, S110 - dropped or refused: reconnect, as the room page does
                pass
            await asyncio.sleep(0.2)

    async def _follow(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "snapshot":
                seq = int(message["room"]["seq"])
                if self.first is None:
                    self.first = self.last = seq
                elif seq > self.last:
                    await self._fill(seq)
            elif message["type"] == "events":
                for event in message["events"]:
                    if event["seq"] <= self.last:
                        self.repeated += 1
                        continue
                    if event["seq"] > self.last + 1:
                        self.frame_gaps += 1
                        await self._fill(event["seq"] - 1)
                    self._see(event)

    def _see(self, event: dict[str, Any]) -> None:
        self.seen[event["seq"]] = (event["type"], event.get("price") if event["type"] == "bid" else None)
        self.last = max(self.last, event["seq"])

    async def _fill(self, upto: int) -> None:
        while self.last < upto:
            try:
                events = (await self.http.get(f"/api/auctions/{self.lot}/events", params={"after": self.last})).json()
            except (httpx.HTTPError, ValueError):
                events = None
            if not isinstance(events, list) or not events:
                await asyncio.sleep(0.5)
                continue
            for event in events:
                if event["seq"] <= upto:
                    self.filled += 1
                    self._see(event)
                    self.last = event["seq"]


class Chaos:
    def __init__(self, exchange: Exchange, options: ChaosOptions) -> None:
        self.exchange, self.options = exchange, options
        self.rng = random.Random(options.seed)
        self.jitter = random.Random(options.seed + 1)
        self.bids: list[Bid] = []
        self.faults: list[Fault] = []
        self.health: list[tuple[float, bool]] = []
        self.unexpected: Counter[str] = Counter()
        self.t0 = 0.0
        self.stop_at = float("inf")

    def now(self) -> float:
        return time.monotonic() - self.t0

    # set-up ------------------------------------------------------------------------------

    async def set_up(self, http: httpx.AsyncClient) -> None:
        api = ExchangeApi(http, run=f"chaos{self.options.seed}")
        _, seller, self.bidders = await asyncio.gather(
            asyncio.to_thread(create_operator, self.exchange.tool_env, *OPERATOR),
            api.register("institution", "seller"), api.investors(self.options.bidders))
        operator = await api.token(*OPERATOR)
        opens = soon(2)
        ends = opens + timedelta(seconds=self.options.duration + 3600)  # nothing closes during the run
        self.lots = await bounded(3, [
            partial(api.lot, operator, seller, n, opens_at=opens, scheduled_end=ends, quiet_period_s=300,
                    start_price=START_PRICE, increment=STEP) for n in range(self.options.lots)])
        await bounded(4, [partial(api.approve, operator, lot, b) for lot in self.lots for b in self.bidders])
        await api.wait_open(self.lots)

    # bidding -----------------------------------------------------------------------------

    async def bid_war(self, http: httpx.AsyncClient) -> None:
        counts = Counter[int]()
        tasks = []
        n = 0
        while (intended := n / self.options.rate) < self.stop_at:
            if (delay := intended - self.now()) > 0:
                await asyncio.sleep(min(delay, 0.5))
                continue
            lot = self.lots[n % len(self.lots)]
            k = counts[lot]
            counts[lot] += 1
            bid = Bid(n, lot, START_PRICE + k * STEP, k % len(self.bidders), f"chaos-{self.options.seed}-{n}")
            self.bids.append(bid)
            tasks.append(asyncio.create_task(self.place(http, bid)))
            n += 1
        await asyncio.gather(*tasks)

    async def place(self, http: httpx.AsyncClient, bid: Bid) -> None:
        """Sent again with the same key after a 503 or a broken connection, until RETRY_FOR_S."""
        give_up_at, backoff = self.now() + RETRY_FOR_S, 0.1
        headers = self.bidders[bid.bidder].headers | {"Idempotency-Key": bid.key}
        while True:
            bid.attempts += 1
            sent_at = self.now()
            fault = self.faults[-1] if self.faults else None
            try:
                answer = await http.post(f"/api/lots/{bid.lot}/bids", json={"amount": bid.amount}, headers=headers)
            except httpx.HTTPError:
                bid.broken += 1
                if fault is not None:
                    fault.broken_connections += 1
            else:
                if answer.status_code != 503:
                    bid.status, bid.answered_attempt_at, bid.answered_at = answer.status_code, sent_at, self.now()
                    bid.answer = _json(answer)
                    if answer.status_code not in (201, 422):
                        self.unexpected[f"{answer.status_code} {answer.text[:200]}"] += 1
                    return
                bid.unavailable += 1
                if fault is not None:
                    fault.answered_503 += 1
            if self.now() > give_up_at:
                bid.gave_up = True
                return
            await asyncio.sleep(backoff * (0.5 + self.jitter.random()))
            backoff = min(backoff * 2, 2.0)

    # faults ------------------------------------------------------------------------------

    async def watch_health(self) -> None:
        """/healthz every 0.1 s, each time on a new connection (the kernel picks the worker)."""
        async with httpx.AsyncClient(base_url=self.exchange.url, timeout=2,
                                     limits=httpx.Limits(max_keepalive_connections=0)) as http:
            while True:
                ok = await _healthy(http)
                self.health.append((self.now(), ok))  # when answered: a stalled answer is not early health
                await asyncio.sleep(0.1)

    def recovered(self, fault: Fault) -> bool:
        bad = [t for t, ok in self.health if t >= fault.injected_at and not ok]
        since = bad[-1] if bad else fault.injected_at
        healthy = [t for t, ok in self.health if t > since and ok]
        acked = any(b.status == 201 and (b.answered_attempt_at or 0) >= fault.injected_at for b in self.bids)
        return bool(healthy) and self.now() - healthy[0] >= HEALTHY_FOR_S and acked

    async def run_faults(self) -> None:
        names = self.options.faults
        warm_up = min(5.0, self.options.duration / 8)
        slot = max(0.0, self.options.duration - warm_up - SETTLE_S) / max(1, len(names))
        ready_at = warm_up
        for i, name in enumerate(names):
            planned = warm_up + i * slot + self.rng.uniform(0, slot / 4)
            await asyncio.sleep(max(0.0, max(planned, ready_at) - self.now()))
            fault = Fault(name, round(self.now(), 2), round(self.now(), 2))
            self.faults.append(fault)
            await self.inject(fault)
            await until(partial(self.recovered, fault), RECOVERY_LIMIT_S)
            ready_at = self.now() + 1.0
        self.stop_at = max(self.options.duration, self.now() + SETTLE_S)

    def struck(self, fault: Fault) -> None:
        """The fault has taken effect: its times run from now (a bid answered before was in time)."""
        fault.injected_at = round(self.now(), 2)

    async def inject(self, fault: Fault) -> None:
        exchange = self.exchange
        if fault.name in ("engine", "web", "feed"):
            pids = exchange.pids(fault.name)
            pid = pids[self.rng.randrange(len(pids))]
            os.kill(pid, signal.SIGKILL)
            self.struck(fault)
            fault.detail = f"kill -9 {fault.name} pid {pid}; the supervisor starts another"
            deadline = self.now() + RECOVERY_LIMIT_S
            while pid in (now := exchange.pids(fault.name)) or len(now) < exchange.workers[fault.name]:
                if self.now() > deadline:
                    return
                await asyncio.sleep(0.05)
        elif fault.name == "redis-stop":
            pid = await asyncio.to_thread(exchange.redis_pid)
            os.kill(pid, signal.SIGSTOP)
            self.struck(fault)
            try:
                await asyncio.sleep(self.options.redis_stop_s)
            finally:
                os.kill(pid, signal.SIGCONT)
            fault.detail = f"SIGSTOP redis-server pid {pid}, SIGCONT after {self.options.redis_stop_s:g} s"
        elif fault.name == "redis-kill":
            pid = await asyncio.to_thread(exchange.redis_pid)
            os.kill(pid, signal.SIGKILL)
            self.struck(fault)
            await asyncio.sleep(self.options.server_down_s)
            # The dead server's socket file is still there, and EmbeddedRedis.start would first ping it,
            # which redis-py retries for about 3 s: it is known to be dead, so it goes.
            exchange.redis_socket.unlink(missing_ok=True)
            redis = EmbeddedRedis(exchange.redis_socket.parent)
            await asyncio.to_thread(redis.start)
            exchange.restarted_redis.append(redis)
            exchange.restarted_redis_pids.add(await asyncio.to_thread(exchange.redis_pid))
            fault.detail = (f"kill -9 redis-server pid {pid}; started again on its data and socket after "
                            f"{self.options.server_down_s:g} s (the exchange does not restart it)")
        elif fault.name == "postgres-kill":
            await asyncio.to_thread(exchange.postgres.kill)
            self.struck(fault)  # pg_ctl returns once the server is down
            await asyncio.sleep(self.options.server_down_s)
            await asyncio.to_thread(exchange.postgres.start)
            fault.detail = (f"PostgreSQL immediate shutdown; started again after {self.options.server_down_s:g} s "
                            "(the exchange does not restart it)")
        elif fault.name == "postgres-drop":
            # as an administrator, a connection pooler's restart or an idle-session timeout does
            ended = await asyncio.to_thread(exchange.postgres.psql, _DROP_SESSIONS, DATABASE_NAME)
            self.struck(fault)
            fault.detail = f"PostgreSQL ended {ended.strip()} sessions of the exchange, all but the engine lock's"
        fault.back_after_s = round(self.now() - fault.injected_at, 2)

    def fault_figures(self) -> None:
        for i, fault in enumerate(self.faults):
            end = self.faults[i + 1].began_at if i + 1 < len(self.faults) else float("inf")
            window = [(t, ok) for t, ok in self.health if fault.injected_at <= t < end]
            bad = [t for t, ok in window if not ok]
            healthy = [t for t, ok in window if ok and t > (bad[-1] if bad else -1.0)]
            if healthy:
                fault.healthy_after_s = round(healthy[0] - fault.injected_at, 2)
            acks = [b.answered_at for b in self.bids if b.status == 201 and b.answered_at is not None
                    and (b.answered_attempt_at or 0) >= fault.injected_at]
            if acks:
                fault.next_ack_after_s = round(min(acks) - fault.injected_at, 2)


async def until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Polls `condition` (other tasks and processes make it true) until it holds or time is up."""
    deadline = time.monotonic() + timeout_s
    while not condition():  # noqa: ASYNC110 - a predicate over other tasks' and processes' results
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def _json(answer: httpx.Response) -> dict[str, Any] | None:
    try:
        body = answer.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def event_log(http: httpx.AsyncClient, lot: int) -> list[dict[str, Any]]:
    """The lot's whole event log, page by page, as anyone can read it."""
    events: list[dict[str, Any]] = []
    while True:
        after = events[-1]["seq"] if events else 0
        answer = await http.get(f"/api/auctions/{lot}/events", params={"after": after})
        answer.raise_for_status()
        page: list[dict[str, Any]] = answer.json()
        if not page:
            return events
        events.extend(page)


def audit_log(chaos: Chaos, logs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Acknowledged bids against the event logs: lost, phantom, duplicated."""
    sent = {(b.lot, b.amount): b for b in chaos.bids}
    codes = {(b.lot, b.bidder): b.answer.get("your_code") or b.answer.get("ack", {}).get("your_code")
             for b in chaos.bids if b.answer}
    lost, phantom, duplicated, refused_applied, gaps = [], [], [], [], []
    applied_unanswered = 0
    in_log: Counter[tuple[int, int]] = Counter()
    for lot, events in logs.items():
        seqs = [e["seq"] for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            gaps.append(f"lot {lot}: sequence numbers are not 1..{len(seqs)}")
        for event in events:
            if event["type"] != "bid":
                continue
            in_log[(lot, event["price"])] += 1
            bid = sent.get((lot, event["price"]))
            code = codes.get((lot, bid.bidder)) if bid else None
            if bid is None or (code is not None and event["bid"]["code"] != code):
                phantom.append(f"lot {lot} seq {event['seq']} price {event['price']} by {event['bid']['code']}")
            elif bid.status == 422:
                refused_applied.append(f"{bid.key} refused {bid.answer} yet in the log at seq {event['seq']}")
            elif bid.status != 201:
                applied_unanswered += 1
    by_seq = {(lot, e["seq"]): e for lot, events in logs.items() for e in events}
    acked_seqs: Counter[tuple[int, int]] = Counter()
    for bid in chaos.bids:
        if bid.status != 201 or bid.answer is None:
            continue
        seq = int(bid.answer["seq"])
        acked_seqs[(bid.lot, seq)] += 1
        logged = by_seq.get((bid.lot, seq))
        if (logged is None or logged["type"] != "bid" or logged["price"] != bid.amount
                or logged["bid"]["code"] != bid.answer.get("your_code")):
            lost.append(f"{bid.key}: acknowledged on lot {bid.lot} at seq {seq} for {bid.amount}; the log has {logged}")
    duplicated = [f"lot {lot} amount {amount} applied {count} times" for (lot, amount), count in in_log.items()
                  if count > 1]
    duplicated += [f"lot {lot} seq {seq} acknowledged to {count} keys" for (lot, seq), count in acked_seqs.items()
                   if count > 1]
    return {"events": sum(len(e) for e in logs.values()),
            "bid_events": sum(in_log.values()), "lost": lost, "phantom": phantom, "duplicated": duplicated,
            "refused_yet_applied": refused_applied, "log_sequence_problems": gaps,
            "applied_without_an_answer_to_the_client": applied_unanswered}


async def resend_keys(chaos: Chaos, http: httpx.AsyncClient, logs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every key sent again: an answered one gets its first answer; one given up on gets the answer
    its bid's event in the log implies, when it is there."""
    bid_seq = {(lot, e["price"]): e["seq"] for lot, events in logs.items() for e in events if e["type"] == "bid"}
    differing: list[str] = []

    async def again(bid: Bid) -> None:
        headers = chaos.bidders[bid.bidder].headers | {"Idempotency-Key": bid.key}
        answer = await http.post(f"/api/lots/{bid.lot}/bids", json={"amount": bid.amount}, headers=headers)
        if bid.status is not None:
            if (answer.status_code, _json(answer)) != (bid.status, bid.answer):
                differing.append(f"{bid.key}: first {bid.status} {bid.answer}, again {answer.status_code} {answer.text}")
        elif (seq := bid_seq.get((bid.lot, bid.amount))) is not None:
            body = _json(answer) or {}
            if answer.status_code != 201 or body.get("seq") != seq:
                differing.append(f"{bid.key} (given up, in the log at seq {seq}): again {answer.status_code} {answer.text}")

    await bounded(16, [partial(again, bid) for bid in chaos.bids])
    return {"keys_sent_again": len(chaos.bids), "answered_differently": differing}


def audit_watchers(watchers: list[Watcher], logs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    unseen, wrong = 0, []
    for watcher in watchers:
        log = {e["seq"]: (e["type"], e.get("price") if e["type"] == "bid" else None) for e in logs[watcher.lot]}
        start = watcher.first if watcher.first is not None else 0
        unseen += sum(1 for seq in log if seq > start and seq not in watcher.seen)
        wrong += [f"lot {watcher.lot} seq {seq}: saw {seen}, log {log.get(seq)}"
                  for seq, seen in watcher.seen.items() if log.get(seq) != seen]
    return {"watchers": len(watchers), "connections": sum(w.connections for w in watchers),
            "gaps_in_a_connections_frames": sum(w.frame_gaps for w in watchers),
            "events_fetched_after_a_reconnect_or_gap": sum(w.filled for w in watchers),
            "events_received_twice": sum(w.repeated for w in watchers),
            "events_never_seen": unseen, "events_differing_from_the_log": wrong}


async def exchange_command(exchange: Exchange, *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", *args, env=exchange.tool_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    return {"exit_code": process.returncode, "output": out.decode(errors="replace").strip()}


def bid_figures(chaos: Chaos) -> dict[str, Any]:
    bids = chaos.bids
    return {
        "sent": len(bids),
        "attempts": sum(b.attempts for b in bids),
        "acknowledged": sum(b.status == 201 for b in bids),
        "refused_by_the_rules": dict(Counter(str((b.answer or {}).get("code")) for b in bids if b.status == 422)),
        "answered_503_then_sent_again": sum(b.unavailable > 0 for b in bids),
        "connection_broken_then_sent_again": sum(b.broken > 0 for b in bids),
        "given_up": sum(b.gave_up for b in bids),
        "other_answers": dict(chaos.unexpected),
    }


async def run_chaos(options: ChaosOptions, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every figure of one run; `failures` lists what did not hold (empty: every check passed)."""
    say = progress or (lambda text: None)
    with contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="exchange-chaos-")))
        workdir.mkdir(parents=True, exist_ok=True)
        exchange = Exchange(workdir)
        try:
            return await _run(exchange, options, say)
        finally:
            await exchange.clean_up()
    raise AssertionError("unreachable")


async def _run(exchange: Exchange, options: ChaosOptions, say: Callable[[str], None]) -> dict[str, Any]:
    say("starting exchange run (2 web workers, 2 feed gateways) on embedded PostgreSQL and Redis")
    started = time.monotonic()
    await exchange.start()
    say(f"the exchange answered /healthz ok after {time.monotonic() - started:.1f} s; setting up lots and bidders")
    client = httpx.AsyncClient(base_url=exchange.url, timeout=httpx.Timeout(REQUEST_TIMEOUT_S, pool=None),
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
    async with client as http:
        chaos = Chaos(exchange, options)
        await chaos.set_up(http)
        watchers = [Watcher(exchange.feed_url, http, lot) for lot in chaos.lots for _ in range(options.watchers)]
        following = [asyncio.create_task(w.run()) for w in watchers]
        if not await until(lambda: all(w.first is not None for w in watchers), 60):
            raise RuntimeError("the watchers did not get their first snapshot within 60 s")
        setup_s = time.monotonic() - started
        say(f"set up in {setup_s:.1f} s; bidding at {options.rate:g}/s for {options.duration:g} s, "
            f"faults: {', '.join(options.faults) or 'none'}")
        chaos.t0 = time.monotonic()
        health = asyncio.create_task(chaos.watch_health())
        if options.faults:
            faults = asyncio.create_task(chaos.run_faults())
        else:
            chaos.stop_at = options.duration
        await chaos.bid_war(http)
        if options.faults:
            await faults
        bidding_s = chaos.now()
        health.cancel()
        chaos.fault_figures()
        say(f"bidding stopped after {bidding_s:.1f} s; auditing")
        logs = {lot: await event_log(http, lot) for lot in chaos.lots}
        await until(lambda: all(w.last >= (logs[w.lot][-1]["seq"] if logs[w.lot] else 0) for w in watchers), 30)
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        report: dict[str, Any] = {
            "options": asdict(options) | {"faults": list(options.faults)},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "bidding_s": round(bidding_s, 1),
            "faults": [asdict(f) for f in chaos.faults],
            "bids": bid_figures(chaos),
            "log": audit_log(chaos, logs),
            "watchers": audit_watchers(watchers, logs),
        }
        report["idempotency"] = await resend_keys(chaos, http, logs)
        after = {lot: await event_log(http, lot) for lot in chaos.lots}
        report["log"]["changed_by_the_keys_sent_again"] = after != logs
    audited = time.monotonic()
    say("exchange ledger check, exchange verify")
    report["ledger_check"], report["verify"] = await asyncio.gather(
        exchange_command(exchange, "ledger", "check"), exchange_command(exchange, "verify"))
    checked = time.monotonic()
    report["stop"] = await exchange.stop()
    report["phases_s"] = {"set_up": round(setup_s, 1), "bidding": round(bidding_s, 1),
                          "audit": round(audited - chaos.t0 - bidding_s, 1), "checks": round(checked - audited, 1),
                          "stop": report["stop"]["seconds"], "total": round(time.monotonic() - started, 1)}
    report["log_file"] = str(exchange.log_path) if options.workdir else None
    report["errors_logged"] = exchange.problems_logged()
    report["failures"] = failures(report)
    return report


def failures(report: dict[str, Any]) -> list[str]:
    found = []
    log, watchers = report["log"], report["watchers"]
    for name in ("lost", "phantom", "duplicated", "refused_yet_applied", "log_sequence_problems"):
        if log[name]:
            found.append(f"{len(log[name])} {name.replace('_', ' ')}: {log[name][:5]}")
    if log["changed_by_the_keys_sent_again"]:
        found.append("sending the keys again changed an event log")
    if report["idempotency"]["answered_differently"]:
        found.append(f"keys answered differently the second time: {report['idempotency']['answered_differently'][:5]}")
    if report["bids"]["other_answers"]:
        found.append(f"answers other than 201, 422 and 503: {report['bids']['other_answers']}")
    if watchers["gaps_in_a_connections_frames"] or watchers["events_never_seen"] or watchers["events_differing_from_the_log"]:
        found.append("watchers: a gap in a connection's frames, an event never seen, or one differing from the log")
    for fault in report["faults"]:
        if fault["healthy_after_s"] is None:
            found.append(f"after {fault['name']}, /healthz was not ok again before the next fault or the end")
        if fault["next_ack_after_s"] is None:
            found.append(f"after {fault['name']}, no bid sent was acknowledged")
    for check in ("ledger_check", "verify"):
        if report[check]["exit_code"] != 0:
            found.append(f"exchange {check.replace('_', ' ')} failed: {report[check]['output'][-500:]}")
    stop = report["stop"]
    if stop["exit_code"] != 0 or stop["seconds"] > STOP_LIMIT_S or stop["left_running"]:
        found.append(f"SIGTERM: exit code {stop['exit_code']} after {stop['seconds']} s, left {stop['left_running']}")
    return found


def render(report: dict[str, Any]) -> str:
    """The figures for a reader (and the README)."""
    o, bids, log, w = report["options"], report["bids"], report["log"], report["watchers"]
    m = report["machine"]
    lines = [f"exchange chaos: {o['lots']} lots, {o['bidders']} bidders each, {o['watchers']} watchers per lot; "
             f"{o['rate']:g} bids/s for {report['bidding_s']:g} s (asked {o['duration']:g} s); seed {o['seed']}",
             f"machine: {m['cpus']} cores, Python {m['python']}; seconds: "
             + ", ".join(f"{k.replace('_', '-')} {v:g}" for k, v in report["phases_s"].items()), "",
             "fault            injected  back    healthz ok  next ack  503s  broken",]
    for f in report["faults"]:
        lines.append(f"{f['name']:<16} {f['injected_at']:>7.1f}s {_s(f['back_after_s'])} {_s(f['healthy_after_s'], 11)} "
                     f"{_s(f['next_ack_after_s'], 9)} {f['answered_503']:>5} {f['broken_connections']:>7}")
    lines += ["  (seconds after the fault took effect; back: process replaced, or server running again)",
              *(f"  {f['name']}: {f['detail']}" for f in report["faults"]), "",
              f"bids sent {bids['sent']} ({bids['attempts']} requests): acknowledged {bids['acknowledged']}, "
              f"refused by the rules {sum(bids['refused_by_the_rules'].values())} {bids['refused_by_the_rules']}, "
              f"answered 503 then sent again {bids['answered_503_then_sent_again']}, "
              f"connection broken then sent again {bids['connection_broken_then_sent_again']}, "
              f"given up {bids['given_up']}, other answers {sum(bids['other_answers'].values())}",
              f"event logs: {log['events']} events, {log['bid_events']} bids; lost {len(log['lost'])}, "
              f"phantom {len(log['phantom'])}, duplicated {len(log['duplicated'])}, refused yet applied "
              f"{len(log['refused_yet_applied'])}; applied without an answer to the client "
              f"{log['applied_without_an_answer_to_the_client']}",
              f"keys sent again: {report['idempotency']['keys_sent_again']}, answered differently "
              f"{len(report['idempotency']['answered_differently'])}; event logs changed by them: "
              f"{'yes' if log['changed_by_the_keys_sent_again'] else 'no'}",
              f"watchers: {w['watchers']} on {w['connections']} connections; gaps in a connection's frames "
              f"{w['gaps_in_a_connections_frames']}; events fetched after a reconnect "
              f"{w['events_fetched_after_a_reconnect_or_gap']}; never seen {w['events_never_seen']}; "
              f"differing from the log {len(w['events_differing_from_the_log'])}",
              f"exchange ledger check: exit {report['ledger_check']['exit_code']} ({_last(report['ledger_check'])})",
              f"exchange verify: exit {report['verify']['exit_code']} ({_last(report['verify'])})",
              f"SIGTERM: exit code {report['stop']['exit_code']} after {report['stop']['seconds']} s; "
              f"left running: {report['stop']['left_running'] or 'nothing'}", ""]
    if report["failures"]:
        lines += ["FAILED:", *(f"  {f}" for f in report["failures"]),
                  "errors in the exchange's log (each distinct one once):",
                  *(f"  {line}" for line in report["errors_logged"][:20] or ["(none)"])]
        if report["log_file"]:
            lines.append(f"the exchange's log: {report['log_file']}")
    else:
        lines.append("every check passed")
    return "\n".join(lines)


def _s(value: float | None, width: int = 7) -> str:
    return f"{'-' if value is None else f'{value:.2f}s':>{width}}"


def _last(command: dict[str, Any]) -> str:
    lines = str(command["output"]).splitlines()
    return lines[-1] if lines else ""
