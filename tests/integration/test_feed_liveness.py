"""Keeping lot websockets alive, and letting dead ones go.

Two mechanisms keep a watcher's connection honest:
- the feed server's websocket keepalive (the `websockets` library's protocol pings, configured
  in FeedServer.start): it pings every watcher and drops one that does not answer in time, so a
  vanished client (a closed laptop, a lost network) does not stay counted against the lot, the
  address and the account;
- the application-level {"type": "ping"} that the room page sends every few seconds, answered
  with {"type": "pong", "server_now": ...}: its silence detection relies on that answer (its
  browser side is tested in tests/e2e/test_auction_browser.py).

The keepalive tests run the real FeedServer with its intervals shortened (20 s in production):
what they check is what happens when a pong comes back and when it does not, not the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import serve as real_serve
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

import web.feed
from exchange.accounts.types import Account
from exchange.auctions.service import AuctionService
from exchange.clock import FixedClock
from exchange.services import Services
from tests.integration.conftest_auctions import Parties, live_auction, make_parties
from web.feed import FeedServer

PING_INTERVAL_S = 0.2
PING_TIMEOUT_S = 1.0


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[AuctionService]:
    await services.auctions.start()
    yield services.auctions
    await services.auctions.stop()


@pytest.fixture
def keepalive(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The keepalive the feed server configures (recorded), replaced by a fast one for the test."""
    configured: dict[str, Any] = {}

    def fast_serve(*args: Any, **kwargs: Any) -> Any:
        configured.update(kwargs)
        return real_serve(*args, **kwargs | {"ping_interval": PING_INTERVAL_S, "ping_timeout": PING_TIMEOUT_S})

    monkeypatch.setattr(web.feed, "serve", fast_serve)
    return configured


@pytest.fixture
async def feed(engine: AuctionService, services: Services, keepalive: dict[str, Any]) -> AsyncIterator[FeedServer]:
    server = FeedServer(services, tick=0.01)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture
async def parties(services: Services) -> Parties:
    return await make_parties(services, investors=2)


async def _open_auction(engine: AuctionService, parties: Parties, clock: FixedClock) -> int:
    auction_id = await live_auction(engine, parties, clock.now())
    clock.advance(timedelta(minutes=1))
    await engine.fire_due()
    return auction_id


async def _token(services: Services, account: Account) -> dict[str, str]:
    issued = await services.accounts.issue_token(account, "tests")
    return {"Authorization": f"Bearer {issued.token}"}


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the server changes it on its side
            await asyncio.sleep(0.01)
    assert condition(), what


@dataclass
class RawWatcher:
    """A lot websocket driven frame by frame (websockets' sans-I/O client on a bare TCP
    connection), so the test sees the server's protocol pings and decides whether to answer."""

    answer_pings: bool
    pings: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    close: tuple[int, str] | None = None
    eof: bool = False
    _task: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int, auction_id: int) -> None:
        protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/ws/lots/{auction_id}"))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        protocol.send_request(protocol.connect())
        writer.write(b"".join(protocol.data_to_send()))
        async with asyncio.timeout(5):
            while protocol.handshake_exc is None and protocol.state is not State.OPEN:
                protocol.receive_data(await reader.read(65536))
                protocol.data_to_send()
        assert protocol.handshake_exc is None, protocol.handshake_exc
        self._task = asyncio.create_task(self._read(protocol, reader, writer))

    async def _read(self, protocol: ClientProtocol, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            for event in protocol.events_received():
                if not isinstance(event, Frame):
                    continue  # the handshake's response
                if event.opcode is Opcode.PING:
                    self.pings += 1
                elif event.opcode is Opcode.TEXT:
                    self.messages.append(json.loads(bytes(event.data)))
                elif event.opcode is Opcode.CLOSE and protocol.close_rcvd is not None:
                    self.close = (protocol.close_rcvd.code, protocol.close_rcvd.reason)
            outgoing = b"".join(protocol.data_to_send())  # the pongs websockets prepared, if any
            if self.answer_pings and outgoing:
                writer.write(outgoing)
            data = await reader.read(65536)
            if not data:
                self.eof = True
                protocol.receive_eof()
                writer.close()
                return
            protocol.receive_data(data)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, ConnectionError):
                pass
        if self._writer is not None:
            self._writer.close()


async def test_the_feed_server_configures_a_keepalive_that_drops_a_silent_watcher_within_a_minute(
    feed: FeedServer, keepalive: dict[str, Any],
) -> None:
    interval, timeout = keepalive["ping_interval"], keepalive["ping_timeout"]
    assert interval is not None and timeout is not None, "the feed server must ping its watchers"
    assert 0 < interval and 0 < timeout and interval + timeout <= 60


async def test_a_watcher_that_answers_pings_stays_connected_and_keeps_receiving_the_lot(
    feed: FeedServer, engine: AuctionService, services: Services, parties: Parties, clock: FixedClock,
) -> None:
    auction_id = await _open_auction(engine, parties, clock)
    watcher = RawWatcher(answer_pings=True)
    await watcher.connect(feed.port or 0, auction_id)
    try:
        await _until(lambda: len(watcher.of("snapshot")) == 1, "a snapshot on connect")
        # several times the pong timeout, pinged all along: answered, the connection stays
        await _until(lambda: watcher.pings >= 3 * PING_TIMEOUT_S / PING_INTERVAL_S, "pings keep coming")
        assert watcher.close is None and not watcher.eof
        assert feed.watcher_count(auction_id) == 1
        bid = await engine.submit_bid(parties.investors[0], auction_id, "bid", 100_000, "alive-1")
        assert bid["status"] == "accepted"
        await _until(lambda: any(e["type"] == "bid" for m in watcher.of("events") for e in m["events"]),
                     "the bid reaches the watcher that kept answering")
    finally:
        await watcher.stop()


async def test_a_watcher_that_stops_answering_pings_is_dropped_and_forgotten(
    feed: FeedServer, engine: AuctionService, services: Services, parties: Parties, clock: FixedClock,
) -> None:
    auction_id = await _open_auction(engine, parties, clock)
    bidder = await _token(services, parties.investors[0])
    url = f"ws://127.0.0.1:{feed.port}/ws/lots/{auction_id}"
    async with websockets.connect(url, additional_headers=bidder) as healthy:  # answers pings itself
        silent = RawWatcher(answer_pings=False)
        await silent.connect(feed.port or 0, auction_id)
        try:
            await _until(lambda: feed.watcher_count(auction_id) == 2, "both watch the lot")
            await _until(lambda: silent.eof, "the silent watcher is disconnected")
            assert silent.pings >= 1
            assert silent.close is not None and silent.close[0] == 1011, silent.close  # keepalive ping timeout
            await _until(lambda: feed.watcher_count(auction_id) == 1, "the lot forgets the silent watcher")
            assert sum(feed._by_address.values()) == 1  # its place under the address limit is free again
            assert feed._by_account == {parties.investors[0].id: 1}
            # the one that answers is still there and still served
            await healthy.send(json.dumps({"type": "ping", "ref": "still-here"}))
            async with asyncio.timeout(5):
                while (message := json.loads(await healthy.recv()))["type"] != "pong":
                    pass
            assert message["ref"] == "still-here"
        finally:
            await silent.stop()


async def test_the_rooms_ping_is_answered_with_a_pong_carrying_its_ref_and_the_server_time(
    feed: FeedServer, engine: AuctionService, services: Services, parties: Parties, clock: FixedClock,
) -> None:
    auction_id = await _open_auction(engine, parties, clock)
    async with websockets.connect(f"ws://127.0.0.1:{feed.port}/ws/lots/{auction_id}") as socket:  # anyone watching
        assert json.loads(await socket.recv())["type"] == "snapshot"
        await socket.send(json.dumps({"type": "ping", "ref": "p-1"}))
        await socket.send(json.dumps({"type": "ping"}))
        async with asyncio.timeout(5):
            first, second = json.loads(await socket.recv()), json.loads(await socket.recv())
    assert first == {"type": "pong", "ref": "p-1", "server_now": clock.now().isoformat()}
    assert second["type"] == "pong" and second["ref"] is None
    assert datetime.fromisoformat(second["server_now"]) == clock.now()
