"""Password hashing off the event loop.

An argon2 check costs about 130 ms of CPU with argon2's default parameters. Run on the event
loop it would stall every request of the process; here it runs in a small pool of threads
(argon2's C code releases the GIL) under Linux's SCHED_IDLE policy, which argon2's own
threads inherit: they run only on CPU time nothing else of the machine wants, and any bid,
page or watcher that wakes up takes the core from them at once. A storm of logins queues
behind itself, not in front of bids. The queue is short: beyond it a login is answered 503
with Retry-After at once, rather than waiting for seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from exchange.errors import ServiceBusy
from exchange.settings import rules_from_env

log = logging.getLogger(__name__)

WORKERS = 1
QUEUE = 16
T = TypeVar("T")


def _lowest_priority() -> None:
    """Runs in each hashing thread: Linux schedules every thread on its own."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) > 1:  # the last quarter of the CPUs (at least one): the rest never see argon2
        os.sched_setaffinity(0, cpus[-max(1, len(cpus) // 4):])
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the lowest nice value instead, where there is one
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError) as exc:
            log.debug("password hashing keeps the normal CPU priority: %r", exc)


@dataclass(frozen=True)
class HashingRules:
    """EXCHANGE_PASSWORD_WORKERS threads per process check passwords; EXCHANGE_PASSWORD_QUEUE more wait."""

    workers: int = WORKERS
    queue: int = QUEUE

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HashingRules:
        return rules_from_env(cls, env, "PASSWORD")


class PasswordHashing:
    def __init__(self, hasher: PasswordHasher | None = None, *, workers: int = WORKERS, queue: int = QUEUE) -> None:
        self.hasher = hasher or PasswordHasher()
        self._workers = max(1, workers)
        self._limit = self._workers + max(0, queue)
        self._pool: ThreadPoolExecutor | None = None
        self._busy = 0

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="passwords",
                                            initializer=_lowest_priority)
        return self._pool

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        if self._busy >= self._limit:
            raise ServiceBusy("too many logins are being checked right now; try again in a moment", retry_after=1)
        self._busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor(), work, *args)
        finally:
            self._busy -= 1

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    async def verify(self, stored: str, password: str) -> bool:
        return await self._run(self._matches, stored, password)

    def _matches(self, stored: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return bool(self.hasher.check_needs_rehash(stored))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
