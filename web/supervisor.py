"""`exchange run`: one command that starts and watches every process of the exchange.

On one machine it starts, as separate OS processes, the engine, N web workers and M feed
gateways (web/roles.py), each with the same DATABASE_URL, REDIS_URL and secret key, restarts
any that dies (after a short, growing pause), and on Ctrl-C or SIGTERM stops the gateways,
then the engine (which answers what it already took), then the embedded servers. Children
get SIGTERM if the supervisor itself is killed (PR_SET_PDEATHSIG), so nothing is left behind.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from exchange.infra.processes import die_with_parent

log = logging.getLogger("exchange.supervisor")

RESTART_S = (0.5, 1.0, 2.0, 5.0)
STEADY_S = 30.0
"""A child that ran this long before dying restarts after the shortest pause again."""
STOP_GATEWAYS_S = 10.0
STOP_ENGINE_S = 20.0

def port_in_use(host: str, port: int) -> bool:
    """True when something (another exchange, perhaps) listens on the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@dataclass
class Child:
    role: str
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    due: float = 0.0
    """When to start it again after it died."""


@dataclass
class Supervisor:
    """`children`: (role, count) in start order; the engine first, stopped last."""

    argv: Callable[[str], list[str]]
    env: Mapping[str, str]
    children: list[tuple[str, int]]
    health_url: str | None = None
    started: list[Child] = field(default_factory=list)
    stopping: bool = False

    def run(self, announce: Callable[[], None] | None = None) -> int:
        previous = {signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            for role, count in self.children:
                for index in range(1, count + 1):
                    name = role if count == 1 else f"{role}-{index}"
                    child = Child(role, name, self.argv(role))
                    self.started.append(child)
                    self._spawn(child)
            healthy = self.health_url is None
            while not self.stopping:
                for child in self.started:
                    self._watch(child)
                if not healthy and self._healthy():
                    healthy = True
                    if announce is not None:
                        announce()
                time.sleep(0.1)
            return self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _spawn(self, child: Child) -> None:
        env = dict(self.env) | {"EXCHANGE_PROCESS": child.name}
        child.process = subprocess.Popen(child.argv, env=env, start_new_session=True,  # noqa: S603
                                         preexec_fn=die_with_parent)  # noqa: PLW1509 - single-threaded here
        child.started = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def _watch(self, child: Child) -> None:
        process = child.process
        now = time.monotonic()
        if process is None:
            if now >= child.due:
                self._spawn(child)
            return
        code = process.poll()
        if code is None:
            return
        ran = now - child.started
        child.failures = 0 if ran > STEADY_S else child.failures + 1
        pause = RESTART_S[min(child.failures, len(RESTART_S) - 1)]
        log.error("%s (pid %d) exited with %s after %.1f s; starting it again in %.1f s",
                  child.name, process.pid, _exit_text(code), ran, pause)
        child.process, child.due = None, now + pause

    def _healthy(self) -> bool:
        assert self.health_url is not None
        try:
            with urllib.request.urlopen(self.health_url, timeout=0.5) as answer:  # noqa: S310 - our own URL
                return bool(answer.status == 200 and b'"engine":"ok"' in answer.read())
        except OSError:
            return False

    def _stop_all(self) -> int:
        """Gateways first (they stop taking bids), then the engine (it answers what it took)."""
        gateways = [c for c in self.started if c.role != "engine"]
        engines = [c for c in self.started if c.role == "engine"]
        for group, wait_s in ((gateways, STOP_GATEWAYS_S), (engines, STOP_ENGINE_S)):
            for child in group:
                if child.process is not None and child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + wait_s
            for child in group:
                if child.process is None:
                    continue
                try:
                    child.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.error("%s did not stop within %.0f s; killing it", child.name, wait_s)
                    child.process.kill()
                    child.process.wait()
        return 0


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def child_argv(role: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "web.cli", "run", "--role", role, *extra]


def default_workers() -> int:
    """One web worker and one feed gateway per core, at most four of each."""
    return max(1, min(4, os.cpu_count() or 1))
