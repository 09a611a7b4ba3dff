"""The engine link over loopback TCP with a fake engine: stamps, answers, errors, the horizon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exchange.auctions.commands import Admission, PlaceBidRequest
from exchange.auctions.horizon import Horizon
from exchange.auctions.link import EngineLink
from exchange.auctions.link_server import EngineServer
from exchange.auctions.types import SequencerUnavailable, to_micros
from exchange.clock import FixedClock
from exchange.errors import Conflict, Forbidden

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECRET = "the exchange's secret key"


class FakeEngine:
    """Records what arrives; answers when the test says so (or at once)."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.bids: list[tuple[PlaceBidRequest, int | None]] = []
        self.admissions: list[tuple[Admission, int | None]] = []
        self.loaded: list[int] = []
        self.hold: asyncio.Future[None] | None = None
        self.refuse: Exception | None = None

    def stamp(self) -> int:
        return to_micros(self.clock.now())

    def place_bid(self, request: PlaceBidRequest, received_at: int | None = None) -> Any:
        self.bids.append((request, received_at))
        return asyncio.ensure_future(self._answer({"status": "accepted", "amount": request.amount}))

    def admit(self, admission: Admission, received_at: int | None = None) -> Any:
        self.admissions.append((admission, received_at))
        return asyncio.ensure_future(self._answer({"code": "A001"}))

    async def load(self, auction_id: int) -> None:
        self.loaded.append(auction_id)

    async def _answer(self, answer: dict[str, Any]) -> dict[str, Any]:
        if self.hold is not None:
            await self.hold
        if self.refuse is not None:
            raise self.refuse
        return answer


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
async def engine(clock: FixedClock) -> FakeEngine:
    return FakeEngine(clock)


@pytest.fixture
async def server(engine: FakeEngine) -> AsyncIterator[tuple[EngineServer, Horizon]]:
    horizon = Horizon()
    served = EngineServer(engine, horizon, SECRET)
    await served.start("127.0.0.1", 0)
    yield served, horizon
    await served.stop()


async def linked(server: EngineServer, clock: FixedClock, secret: str = SECRET) -> EngineLink:
    async def locate() -> str:
        return f"127.0.0.1:{server.port}"

    link = EngineLink(locate, secret, clock, name="web-test")
    link.start()
    return link


def bid(amount: int, key: str = "k") -> PlaceBidRequest:
    return PlaceBidRequest(7, 3, "bid", amount, key, "hash")


async def test_a_bid_reaches_the_engine_with_its_receipt_stamp_and_the_answer_comes_back(
    server: tuple[EngineServer, Horizon], engine: FakeEngine, clock: FixedClock
) -> None:
    link = await linked(server[0], clock)
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        ticket = link.ticket()
        clock.advance(timedelta(seconds=2))  # the bid waited in the gateway (say, for its caller's identity)
        answer = await link.bid(bid(1_000), ticket)
        assert answer == {"status": "accepted", "amount": 1_000}
        request, received_at = engine.bids[0]
        assert request == bid(1_000) and received_at == to_micros(NOW)
        assert (await link.admit(Admission(7, 4, 1), link.ticket())) == {"code": "A001"}
        await link.load(9)
        assert engine.loaded == [9]
    finally:
        await link.stop()


async def test_an_engine_refusal_arrives_as_the_same_error(
    server: tuple[EngineServer, Horizon], engine: FakeEngine, clock: FixedClock
) -> None:
    link = await linked(server[0], clock)
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        engine.refuse = Forbidden("you are not approved to bid in this auction")
        with pytest.raises(Forbidden, match="not approved") as refused:
            await link.bid(bid(1_000), link.ticket())
        assert refused.value.status == 403
        engine.refuse = Conflict("the seller can never bid on its own lot")
        with pytest.raises(Conflict):
            await link.bid(bid(1_100), link.ticket())
    finally:
        await link.stop()


async def test_a_gateway_without_the_secret_key_is_refused(
    server: tuple[EngineServer, Horizon], engine: FakeEngine, clock: FixedClock
) -> None:
    link = await linked(server[0], clock, secret="a guess")
    try:
        await asyncio.sleep(0.3)
        assert not link.connected.is_set() and server[1].links == 0
        with pytest.raises(SequencerUnavailable):
            await link.bid(bid(1_000), link.ticket())
        assert engine.bids == []
    finally:
        await link.stop()


async def test_calls_in_flight_when_the_engine_goes_fail_as_retryable_and_the_link_comes_back(
    engine: FakeEngine, clock: FixedClock
) -> None:
    horizon = Horizon()
    first = EngineServer(engine, horizon, SECRET)
    await first.start("127.0.0.1", 0)
    port = first.port
    link = await linked(first, clock)
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        engine.hold = asyncio.get_running_loop().create_future()
        in_flight = asyncio.ensure_future(link.bid(bid(1_000), link.ticket()))
        await asyncio.sleep(0.05)
        await first.stop()
        with pytest.raises(SequencerUnavailable, match="same Idempotency-Key"):
            await in_flight
        with pytest.raises(SequencerUnavailable):  # no engine: refused at once, not after a timeout
            await asyncio.wait_for(link.bid(bid(1_100), link.ticket()), 0.5)
        engine.hold = None
        second = EngineServer(engine, horizon, SECRET)
        await second.start("127.0.0.1", port or 0)
        try:
            await asyncio.wait_for(link.connected.wait(), 5)
            assert (await link.bid(bid(1_000), link.ticket()))["status"] == "accepted"
        finally:
            await second.stop()
    finally:
        await link.stop()


async def test_a_bid_held_by_its_gateway_holds_the_horizon_back_until_it_is_sent(
    server: tuple[EngineServer, Horizon], engine: FakeEngine, clock: FixedClock
) -> None:
    link = await linked(server[0], clock)
    horizon = server[1]
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        received = link.ticket()
        clock.advance(timedelta(seconds=1))
        await asyncio.sleep(0.1)  # heartbeats went meanwhile
        now = engine.stamp()
        assert horizon(now) == received.stamp < now, "a close after the receipt waits for that bid"
        await link.bid(bid(1_000), received)
        await asyncio.sleep(0.1)
        assert horizon(engine.stamp()) == now
    finally:
        await link.stop()


async def test_a_bid_held_too_long_no_longer_holds_the_horizon(
    server: tuple[EngineServer, Horizon], engine: FakeEngine, clock: FixedClock
) -> None:
    link = await linked(server[0], clock)
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        stuck = link.ticket()
        clock.advance(timedelta(seconds=5))
        assert link.watermark() == to_micros(clock.now())
        stuck.release()
    finally:
        await link.stop()


def test_a_silent_link_is_set_aside_and_counts_again_when_heard() -> None:
    moments = [100.0]
    horizon = Horizon(stale_s=1.0, monotonic=lambda: moments[0])
    quiet = horizon.join("web-1", 1_000, 10_000)
    busy = horizon.join("web-2", 5_000, 10_000)
    assert horizon(10_000) == 1_000
    moments[0] += 2.0
    horizon.heard(busy, 9_000, 10_000)
    horizon.check(paused=False)
    assert quiet.set_aside and horizon(10_000) == 9_000
    horizon.heard(quiet, 9_500, 10_000)
    assert not quiet.set_aside and horizon(10_000) == 9_000, "the horizon never goes back"


def test_after_a_pause_of_the_engine_every_link_gets_a_fresh_start() -> None:
    moments = [100.0]
    horizon = Horizon(stale_s=1.0, monotonic=lambda: moments[0])
    link = horizon.join("web-1", 1_000, 10_000)
    moments[0] += 30.0  # the engine was stopped (SIGSTOP) for 30 s; its frames wait unread
    horizon.check(paused=True)
    horizon.check(paused=False)
    assert not link.set_aside and horizon(10_000) == 1_000
