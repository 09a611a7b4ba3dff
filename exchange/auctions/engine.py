"""The auction engine: the one writer of every live lot, in the process that runs it.

It rebuilds each live book from its events at start, owns the sequencer (group commit),
the deadline timer and the feed publisher, and takes commands from its own process (the
sweeps, the tests) or from gateways over the engine link (exchange/auctions/link.py). The
checks that need the live book (is the lot known, is the bidder admitted, is it the seller)
are made here, against the state last committed, so every gateway sees the same answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from exchange.auctions import repository as repo
from exchange.auctions.commands import Admission, PlaceBidRequest, TimerTick
from exchange.auctions.feed import FeedPublisher, feed_message
from exchange.auctions.lot import Lot
from exchange.auctions.sequencer import Horizon, Sequencer
from exchange.auctions.timers import DeadlineTimer
from exchange.clock import Clock, FixedClock
from exchange.errors import Conflict, ExchangeError, Forbidden, NotFound
from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

FEED_PAGE = 1_000
RESCAN_S = 5.0
"""How often the engine looks for scheduled lots it was not told about (a lost notice)."""


class AuctionEngine:
    """`auto_timers` defaults to off under a FixedClock: tests fire deadlines with `fire_due`."""

    def __init__(
        self, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock, *,
        auto_timers: bool | None = None, horizon: Horizon | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self.feed = FeedPublisher(redis, self.events_after)
        self._store = repo.PostgresBatchStore(pool)
        self.sequencer = Sequencer(self._store, clock, self.feed.publish, self._load)
        if horizon is not None:
            self.sequencer.horizon = horizon
        self._timer = DeadlineTimer(self.sequencer, clock)
        self.sequencer.on_deadline_change = self._timer.wake
        self.on_closed = self._timer.on_closed
        self._auto_timers = not isinstance(clock, FixedClock) if auto_timers is None else auto_timers
        self._rescan: asyncio.Task[None] | None = None
        self._loading: dict[int, asyncio.Future[Lot]] = {}

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuilds every live book from its events, applies the deadlines passed meanwhile, then
        accepts commands."""
        await self._add_live()
        self.sequencer.start()
        self.feed.start()
        if self._auto_timers:
            await self._timer.catch_up()
            self._timer.start()
            self._rescan = asyncio.create_task(self._rescan_now_and_then(), name="auction-rescan")
        log.info("auction engine started with %d live lots", len(self.sequencer.lots()))

    async def stop(self) -> None:
        await cancel_and_wait(self._rescan)
        self._rescan = None
        await self._timer.stop()
        await self.sequencer.stop()
        await self._store.close()
        await self.feed.stop()

    async def fire_due(self) -> list[int]:
        """Applies every deadline the horizon has passed; returns the lots that closed."""
        return await self._timer.fire_due()

    @property
    def batches(self) -> int:
        return self.sequencer.batches

    def stamp(self) -> int:
        return self.sequencer.stamp()

    async def _add_live(self) -> int:
        async with self._pool.acquire() as conn:
            rows = [row for row in await repo.live(conn) if self.sequencer.lot(row["id"]) is None]
            events = await repo.events_of(conn, [row["id"] for row in rows])
        for row in rows:
            lot = Lot.replay(repo.info_of(row), events[row["id"]])
            _check_rebuilt(lot, row)
            if self.sequencer.lot(row["id"]) is None:
                self.sequencer.add(lot)
        return len(rows)

    async def _rescan_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(RESCAN_S)
            try:
                found = await self._add_live()
            except Exception as exc:  # noqa: BLE001 - the next pass retries
                log.warning("looking for newly scheduled lots failed: %r", exc)
                continue
            if found:
                log.warning("%d scheduled lots were found by the rescan, not by their notice", found)

    # -- lots ------------------------------------------------------------------------

    async def _load(self, auction_id: int) -> Lot:
        async with self._pool.acquire() as conn:
            row = await repo.get(conn, auction_id)
            if row is None:
                raise NotFound("no such auction")
            events = await repo.events_of(conn, [auction_id])
        return Lot.replay(repo.info_of(row), events[auction_id])

    async def lot(self, auction_id: int) -> Lot:
        """The live lot, loaded from PostgreSQL the first time (one load however many ask)."""
        lot = self.sequencer.lot(auction_id)
        if lot is not None:
            return lot
        loading = self._loading.get(auction_id)
        if loading is None:
            loading = asyncio.ensure_future(self._load(auction_id))
            self._loading[auction_id] = loading
            loading.add_done_callback(lambda _: self._loading.pop(auction_id, None))
        loaded = await asyncio.shield(loading)
        lot = self.sequencer.lot(auction_id)
        if lot is None:
            self.sequencer.add(loaded)
            lot = loaded
        return lot

    async def load(self, auction_id: int) -> None:
        """A lot was scheduled: take it into the timer's care now."""
        await self.lot(auction_id)

    # -- commands --------------------------------------------------------------------

    def place_bid(self, request: PlaceBidRequest, received_at: int | None = None) -> Awaitable[dict[str, Any]]:
        """The answer, after the commit that holds the bid (or its refusal)."""
        lot = self.sequencer.lot(request.lot)
        if lot is None:
            return asyncio.ensure_future(self._after_load(request, received_at, self.place_bid))
        return self._checked(lambda: _bid_problem(lot, request.account_id), request, received_at)

    def admit(self, admission: Admission, received_at: int | None = None) -> Awaitable[dict[str, Any]]:
        lot = self.sequencer.lot(admission.lot)
        if lot is None:
            return asyncio.ensure_future(self._after_load(admission, received_at, self.admit))
        return self._checked(
            lambda: Conflict("this auction has closed") if lot.committed.closed else None, admission, received_at)

    def tick(self, auction_id: int) -> Awaitable[dict[str, Any]]:
        return self.sequencer.enqueue(TimerTick(auction_id))

    def _checked(
        self, problem: Callable[[], ExchangeError | None], command: PlaceBidRequest | Admission,
        received_at: int | None,
    ) -> asyncio.Future[Any]:
        found = problem()
        if found is None:
            try:
                return self.sequencer.enqueue(command, received_at)
            except ExchangeError as exc:
                found = exc
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refused.set_exception(found)
        return refused

    async def _after_load(self, command: Any, received_at: int | None,
                          again: Callable[[Any, int | None], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        await self.lot(command.lot)
        return await again(command, received_at)

    # -- reading ---------------------------------------------------------------------

    async def events_after(self, auction_id: int, seq: int) -> list[dict[str, Any]]:
        """Committed feed messages after `seq` (at most 1000), for the publisher catching up."""
        lot = await self.lot(auction_id)
        return await feed_messages_after(self._pool, lot, seq)


async def feed_messages_after(pool: asyncpg.Pool, lot: Lot, seq: int) -> list[dict[str, Any]]:
    """The public messages of the lot's committed events after `seq` (at most 1000)."""
    async with pool.acquire() as conn:
        events = await repo.events_after(conn, lot.info.id, max(seq, 0), FEED_PAGE)
    codes = dict(lot.codes)
    for recorded in events:
        if recorded.kind == "admitted":
            codes[recorded.payload["bidder"]] = recorded.payload["code"]
    return [feed_message(lot.info, codes, recorded) for recorded in events]


def _bid_problem(lot: Lot, account_id: int) -> ExchangeError | None:
    if account_id == lot.info.seller_id:
        return Conflict("the seller can never bid on its own lot")
    if str(account_id) not in lot.codes:
        return Forbidden("you are not approved to bid in this auction")
    return None


def _check_rebuilt(lot: Lot, row: asyncpg.Record) -> None:
    if lot.seq != row["last_seq"] or lot.book.state_hash() != row["state_hash"]:
        log.error(
            "AUCTION %d REBUILT STATE DIFFERS FROM THE STORED ONE: seq %d vs %d, hash %s vs %s",
            lot.info.id, lot.seq, row["last_seq"], lot.book.state_hash(), row["state_hash"],
        )
