"""A periodic pass over durable deadlines: at once on start (what fell due while the exchange
was down), then every few seconds. Under a FixedClock it never starts: tests call the pass."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from exchange.clock import Clock, FixedClock

log = logging.getLogger(__name__)


CANCEL_AGAIN_S = 1.0


async def cancel_and_wait(task: asyncio.Task[Any] | None, again_after_s: float = CANCEL_AGAIN_S) -> None:
    """Cancels a background task and waits until it has unwound. A cancellation lost on the way
    is repeated: redis-py's pub/sub reads swallow one now and then (about 1 in 200 cancels of
    a task waiting in `PubSub.get_message`), and the task would then wait for ever."""
    if task is None:
        return
    task.cancel()
    while not (await asyncio.wait([task], timeout=again_after_s))[0]:
        log.warning("task %s did not end when cancelled; cancelling it again", task.get_name())
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class Sweeper:
    def __init__(self, name: str, sweep: Callable[[], Awaitable[Any]], clock: Clock,
                 every_s: Callable[[], float]) -> None:
        self._name = name
        self._sweep = sweep
        self._clock = clock
        self._every_s = every_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and not isinstance(self._clock, FixedClock):
            self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            try:
                await self._sweep()
            except Exception:
                log.exception("%s failed; retrying", self._name)
            await asyncio.sleep(self._every_s())
