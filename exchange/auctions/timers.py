"""Durable timers: opening and closing are deadlines kept in auctions.next_deadline.

The timer fires a Tick through the sequencer when a lot's deadline is due: when the
horizon (the time up to which every gateway has handed over what it received) has passed
it, so a bid received before the close but still on its way is judged first. The book
decides: a Tick before the close is a no-op, so a lot never closes early; a close due
while the process was down is applied at the first pass after start, at its own time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from exchange.auctions.commands import TimerTick
from exchange.auctions.sequencer import Sequencer
from exchange.auctions.types import to_micros
from exchange.clock import Clock
from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

POLL_S = 1.0
RETRY_S = 0.5
HORIZON_POLL_S = 0.005
"""How often to look again while a deadline has passed by the clock but not yet by the horizon."""


class DeadlineTimer:
    def __init__(self, sequencer: Sequencer, clock: Clock, poll_s: float = POLL_S) -> None:
        self._sequencer = sequencer
        self._clock = clock
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failed = 0
        # called with each lot that closed, after its close is committed (settlement listens)
        self.on_closed: list[Callable[[int], Awaitable[None]]] = []
        self._told: dict[int, asyncio.Future[None]] = {}
        sequencer.on_closed = self.closed

    def wake(self) -> None:
        self._wake.set()

    async def fire_due(self) -> list[int]:
        """Fires every due deadline once; returns the lots that closed."""
        self.failed = 0
        due = self._sequencer.due(self._sequencer.horizon(self._sequencer.stamp()))
        if not due:
            return []
        results = await asyncio.gather(
            *(self._sequencer.submit(TimerTick(lot)) for lot in due), return_exceptions=True
        )
        closed: list[int] = []
        for lot, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                self.failed += 1
                log.error("deadline of lot %d not applied yet: %r", lot, result)
            elif result.get("closed"):
                closed.append(lot)
        for lot in closed:
            told = self._told.get(lot)
            if told is not None:
                await told
        return closed

    async def catch_up(self, passes: int = 8) -> None:
        """Fires, pass after pass, every deadline already due (a lot whose whole auction passed while
        the engine was down opens, then closes, each at its own time), so that start-up goes on
        with every book as the clock says it is."""
        for _ in range(passes):
            if not self._sequencer.due(self._sequencer.horizon(self._sequencer.stamp())):
                return
            await self.fire_due()
            if self.failed:
                return  # the timer's own passes retry

    def closed(self, lot: int) -> None:
        """A close was committed (by a tick, or by a command stamped after the deadline): tell
        the listeners once; `fire_due` waits for them when its tick closed the lot."""
        if lot not in self._told:
            self._told[lot] = asyncio.ensure_future(self._tell(lot))

    async def _tell(self, lot: int) -> None:
        for listener in self.on_closed:
            try:
                await listener(lot)
            except Exception:
                log.exception("a listener of the close of lot %d failed; it repairs on its next pass", lot)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="auction-timer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay = self._poll_s
            try:
                await self.fire_due()
            except Exception:
                log.exception("deadline timer pass failed")
                self.failed = 1
            upcoming = self._sequencer.next_deadline()
            if self.failed:
                delay = RETRY_S
            elif upcoming is not None:
                wait = (upcoming - to_micros(self._clock.now())) / 1_000_000
                delay = min(delay, max(wait, HORIZON_POLL_S))
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
