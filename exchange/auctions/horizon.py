"""The horizon: the time up to which every gateway has handed its bids over to the engine.

A bid's time is when a gateway (web worker or feed gateway) received it: the gateway stamps
it on receipt and the engine applies it at that stamp. Gateways and the engine read the same
clock (one machine), or clocks kept within milliseconds by NTP (several machines); a stamp
ahead of the engine's clock is taken as the engine's now, so a gateway can never push a bid
into the engine's future.

Each gateway's link to the engine is one ordered connection. With every frame, and in a
heartbeat when it has nothing else to send, the gateway sends its watermark: the stamp of the
oldest bid it has received and not yet sent, or its clock if none. Everything it sends later
carries a stamp at or after that watermark. The engine's horizon is the least watermark of its
live links (and never after its own clock): no bid received before the horizon can still
arrive, so a deadline the horizon has passed may be applied without overtaking one.

A link that has sent nothing for `stale_s` of the engine's attention (a stopped or hung
gateway) no longer holds the horizon back, so one stalled gateway delays a close by at most
that long; its bids count again from its next frame. A pause of the engine itself (a stopped
process, a long collection) is not held against the gateways: after one, every link gets a
fresh `stale_s` to be heard from before it is set aside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

STALE_S = 1.0
CHECK_S = 0.025
PAUSED_S = 0.25
"""A check that comes this late means the engine itself was paused."""


@dataclass(eq=False)
class LinkWatermark:
    """One gateway's link, as the engine sees it."""

    name: str
    at: int
    """The link's watermark (µs): everything it sends from now on was received at or after it."""
    heard: float
    """When the engine last read a frame of it (monotonic seconds)."""
    set_aside: bool = False


class Horizon:
    """Callable as the sequencer's horizon: given the engine's now (µs), the horizon (µs)."""

    def __init__(self, stale_s: float = STALE_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stale_s = stale_s
        self._monotonic = monotonic
        self._links: set[LinkWatermark] = set()
        self._last = 0
        self._task: asyncio.Task[None] | None = None

    def __call__(self, now: int) -> int:
        live = [link.at for link in self._links if not link.set_aside]
        self._last = max(self._last, min([now, *live]))
        return self._last

    def join(self, name: str, watermark: int, now: int) -> LinkWatermark:
        link = LinkWatermark(name, min(watermark, now), self._monotonic())
        self._links.add(link)
        return link

    def heard(self, link: LinkWatermark, watermark: int, now: int) -> None:
        """A frame of `link` arrived carrying `watermark`."""
        link.at = max(link.at, min(watermark, now))
        link.heard = self._monotonic()
        if link.set_aside:
            link.set_aside = False
            log.info("gateway %s is heard from again; closes wait for its bids", link.name)

    def leave(self, link: LinkWatermark) -> None:
        self._links.discard(link)

    @property
    def links(self) -> int:
        return len(self._links)

    def check(self, paused: bool) -> None:
        """Sets aside links not heard from for `stale_s`; after a pause of the engine, starts afresh."""
        now = self._monotonic()
        for link in self._links:
            if paused:
                link.heard = now
            elif not link.set_aside and now - link.heard > self.stale_s:
                link.set_aside = True
                log.warning("gateway %s sent nothing for %.1f s: closes no longer wait for it", link.name,
                            now - link.heard)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="auction-horizon")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _watch(self) -> None:
        last = self._monotonic()
        while True:
            await asyncio.sleep(CHECK_S)
            now = self._monotonic()
            self.check(paused=now - last > PAUSED_S)
            last = now
