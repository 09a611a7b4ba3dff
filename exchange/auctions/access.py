"""How the auction service reaches the engine and reads lots, in the engine's process or another.

`InProcess`: the engine runs here (the engine process; tests): reads come from its live books.
`Linked`: the engine runs elsewhere (web workers, feed gateways): commands go over the engine
link, reads come from copies of the lots brought up to date from the event log.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from exchange.auctions.commands import Admission, PlaceBidRequest
from exchange.auctions.engine import AuctionEngine
from exchange.auctions.link import EngineLink, Ticket
from exchange.auctions.lot import Lot
from exchange.auctions.replicas import LotReplicas
from exchange.auctions.types import SequencerUnavailable

log = logging.getLogger(__name__)


class EngineAccess(Protocol):
    def receipt(self) -> Ticket:
        """A bid was received: its stamp (call before awaiting anything)."""

    async def lot(self, auction_id: int) -> Lot: ...

    async def lots(self, auction_ids: list[int]) -> dict[int, Lot]: ...

    async def bid(self, request: PlaceBidRequest, ticket: Ticket) -> dict[str, Any]: ...

    async def admit(self, admission: Admission) -> dict[str, Any]: ...

    async def scheduled(self, auction_id: int) -> None:
        """A lot was scheduled and committed: the engine takes it into its timer's care."""

    @property
    def ready(self) -> bool:
        """Commands can reach the engine now."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class InProcess:
    def __init__(self, engine: AuctionEngine) -> None:
        self.engine = engine

    def receipt(self) -> Ticket:
        return Ticket(None, 0, self.engine.stamp())

    async def lot(self, auction_id: int) -> Lot:
        return await self.engine.lot(auction_id)

    async def lots(self, auction_ids: list[int]) -> dict[int, Lot]:
        return {auction_id: await self.engine.lot(auction_id) for auction_id in auction_ids}

    async def bid(self, request: PlaceBidRequest, ticket: Ticket) -> dict[str, Any]:
        return await self.engine.place_bid(request, ticket.stamp)

    async def admit(self, admission: Admission) -> dict[str, Any]:
        return await self.engine.admit(admission)

    async def scheduled(self, auction_id: int) -> None:
        await self.engine.load(auction_id)

    @property
    def ready(self) -> bool:
        return self.engine.sequencer.running

    async def start(self) -> None:
        await self.engine.start()

    async def stop(self) -> None:
        await self.engine.stop()


class Linked:
    def __init__(self, link: EngineLink, replicas: LotReplicas) -> None:
        self.link = link
        self._replicas = replicas

    def receipt(self) -> Ticket:
        return self.link.ticket()

    async def lot(self, auction_id: int) -> Lot:
        return await self._replicas.lot(auction_id)

    async def lots(self, auction_ids: list[int]) -> dict[int, Lot]:
        return await self._replicas.lots(auction_ids)

    async def bid(self, request: PlaceBidRequest, ticket: Ticket) -> dict[str, Any]:
        return await self.link.bid(request, ticket)

    async def admit(self, admission: Admission) -> dict[str, Any]:
        return await self.link.admit(admission, self.link.ticket())

    async def scheduled(self, auction_id: int) -> None:
        try:
            await self.link.load(auction_id)
        except SequencerUnavailable as exc:
            log.warning("the engine was not told of auction %d (%s); it finds it on its next rescan",
                        auction_id, exc.detail)

    @property
    def ready(self) -> bool:
        return self.link.connected.is_set()

    async def start(self) -> None:
        self.link.start()

    async def stop(self) -> None:
        await self.link.stop()
