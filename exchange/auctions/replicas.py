"""Lots as last committed, read from the event log: the auctions as a web worker or a feed
gateway sees them (the engine, in another process, holds the live books).

A copy is brought up to date on every read with the events committed since it was last read
(one indexed query, none when several readers ask at once), so a room read after a bid's
acknowledgement shows the bid, whichever process serves it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import asyncpg

from exchange.auctions import repository as repo
from exchange.auctions.lot import Lot
from exchange.errors import NotFound

KEPT = 5_000


class LotReplicas:
    def __init__(self, pool: asyncpg.Pool, kept: int = KEPT) -> None:
        self._pool = pool
        self._kept = kept
        self._lots: OrderedDict[int, Lot] = OrderedDict()
        self._reading: dict[int, asyncio.Future[Lot]] = {}

    async def lot(self, auction_id: int) -> Lot:
        """The lot as last committed; readers arriving during a read share it."""
        reading = self._reading.get(auction_id)
        if reading is None:
            reading = asyncio.ensure_future(self._read(auction_id))
            self._reading[auction_id] = reading
            reading.add_done_callback(lambda _: self._reading.pop(auction_id, None))
        return await asyncio.shield(reading)

    async def lots(self, ids: list[int]) -> dict[int, Lot]:
        """Several lots brought up to date with one query (and one more for those not yet held)."""
        held = {i: self._lots[i] for i in ids if i in self._lots}
        missing = [i for i in ids if i not in held]
        async with self._pool.acquire() as conn:
            fresh = await repo.events_since(conn, [(i, lot.seq) for i, lot in held.items()])
            rows = await repo.rows(conn, missing) if missing else []
            events = await repo.events_of(conn, [row["id"] for row in rows]) if rows else {}
        for auction_id, lot in held.items():
            lot.follow(fresh.get(auction_id, []))
        for row in rows:
            self._keep(Lot.replay(repo.info_of(row), events[row["id"]]))
        return {i: self._lots[i] for i in ids if i in self._lots}

    async def _read(self, auction_id: int) -> Lot:
        lot = self._lots.get(auction_id)
        async with self._pool.acquire() as conn:
            if lot is not None:
                lot.follow(await repo.events_after(conn, auction_id, lot.seq, None))
                self._lots.move_to_end(auction_id)
                return lot
            row = await repo.get(conn, auction_id)
            if row is None:
                raise NotFound("no such auction")
            events = await repo.events_of(conn, [auction_id])
        return self._keep(Lot.replay(repo.info_of(row), events[auction_id]))

    def _keep(self, lot: Lot) -> Lot:
        kept = self._lots.get(lot.info.id)
        if kept is None or kept.seq < lot.seq:
            self._lots[lot.info.id] = kept = lot
        self._lots.move_to_end(lot.info.id)
        while len(self._lots) > self._kept:
            self._lots.popitem(last=False)
        return kept
