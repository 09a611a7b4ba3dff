"""The auction over the wire: a real uvicorn server in the test's loop, HTTP bids, the lot websocket, pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from exchange.accounts.types import Account
from exchange.auctions.gateway import encode
from exchange.clock import FixedClock
from exchange.services import Services
from tests.integration.conftest_auctions import Parties, live_auction, make_parties
from tests.integration.helpers import csrf_from, free_port
from web.app import create_app
from web.feed import FeedLimits, FeedServer

PASSWORD = "correct horse battery"



@pytest.fixture
async def feed(services: Services) -> AsyncIterator[FeedServer]:
    """The lot websockets (and the gateway that feeds them from Redis) on a loopback port."""
    server = FeedServer(services, tick=0.01)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture
async def server(services: Services, feed: FeedServer) -> AsyncIterator[str]:
    """The HTTP app (and the auction engine in its lifespan) served on loopback by uvicorn."""
    port = free_port()
    feed.web_port = port  # pages served from this port may open the feed
    config = uvicorn.Config(create_app(services, feed_port=feed.port), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 10)


@pytest.fixture
def ws(feed: FeedServer) -> str:
    return f"ws://127.0.0.1:{feed.port}"


@pytest.fixture
async def parties(services: Services) -> Parties:
    return await make_parties(services, investors=2)


async def _token(services: Services, account: Account) -> dict[str, str]:
    issued = await services.accounts.issue_token(account, "tests")
    return {"Authorization": f"Bearer {issued.token}"}


async def _open_auction(services: Services, parties: Parties, clock: FixedClock, **overrides: object) -> int:
    auction_id = await live_auction(services.auctions, parties, clock.now(), **overrides)
    clock.advance(timedelta(minutes=1))
    await services.auctions.fire_due()
    return auction_id


async def _next(ws: ClientConnection, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next message of `kind`, skipping others."""
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def _events_until(ws: ClientConnection, seq: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not seen or seen[-1]["seq"] < seq:
            seen.extend((await _next(ws, "events"))["events"])
    return seen


async def test_http_bids_need_an_idempotency_key_and_a_replay_returns_the_first_answer(
    server: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    investor = await _token(services, parties.investors[0])
    url = f"http://{server}/api/lots/{auction_id}/bids"
    async with httpx.AsyncClient() as http:
        missing = await http.post(url, json={"amount": 100_000}, headers=investor)
        assert missing.status_code == 422
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert "Idempotency-Key" in missing.json()["errors"]
        malformed = await http.post(url, json={"amount": 100_000}, headers=investor | {"Idempotency-Key": "x" * 101})
        assert malformed.status_code == 422 and "idempotency_key" in malformed.json()["errors"]

        first = await http.post(url, json={"amount": 100_000}, headers=investor | {"Idempotency-Key": "k-1"})
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "accepted"
        replay = await http.post(url, json={"amount": 100_000}, headers=investor | {"Idempotency-Key": "k-1"})
        assert replay.status_code == 201 and replay.json() == first.json()
        reused = await http.post(url, json={"amount": 105_000}, headers=investor | {"Idempotency-Key": "k-1"})
        assert reused.status_code == 409

        rejected = await http.post(url, json={"amount": 100_500}, headers=investor | {"Idempotency-Key": "k-2"})
        assert rejected.status_code == 422
        body = rejected.json()
        assert body["ack"]["status"] == "rejected" and body["code"] == body["ack"]["code"]

        anonymous = await http.post(url, json={"amount": 101_000}, headers={"Idempotency-Key": "k-3"})
        assert anonymous.status_code == 401
        seller = await _token(services, parties.seller)
        own_lot = await http.post(url, json={"amount": 101_000}, headers=seller | {"Idempotency-Key": "k-4"})
        assert own_lot.status_code == 403

        room = (await http.get(f"http://{server}/api/auctions/{auction_id}")).json()
    assert room["price"] == 100_000 and room["ladder"][0]["amount"] == 100_000
    assert len(room["ladder"]) == 1  # the replay and the refused bids changed nothing


async def test_watchers_get_a_snapshot_then_every_committed_bid_in_sequence(
    server: str, ws: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    a, b = [await _token(services, investor) for investor in parties.investors]
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}") as watcher:
        snapshot = (await _next(watcher, "snapshot"))["room"]
        assert snapshot["phase"] == "free" and snapshot["you"] is None
        start = snapshot["seq"]
        async with httpx.AsyncClient() as http:
            for i, (headers, amount) in enumerate([(a, 100_000), (b, 101_000), (a, 103_000)]):
                response = await http.post(f"http://{server}/api/lots/{auction_id}/bids", json={"amount": amount},
                                           headers=headers | {"Idempotency-Key": f"w-{i}"})
                assert response.status_code == 201, response.text
        events = await _events_until(watcher, start + 3)
    assert [e["seq"] for e in events] == [start + 1, start + 2, start + 3]
    assert [e["price"] for e in events] == [100_000, 101_000, 103_000]
    assert [e["leader"] for e in events] == ["A001", "A002", "A001"]


async def test_bids_over_the_websocket_are_acknowledged_after_commit_and_seen_by_everyone(
    server: str, ws: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    a = await _token(services, parties.investors[0])
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}", additional_headers=a) as bidder, \
            websockets.connect(f"{ws}/ws/lots/{auction_id}") as watcher:
        mine = (await _next(bidder, "snapshot"))["room"]
        assert mine["you"]["code"] == "A001"
        start = (await _next(watcher, "snapshot"))["room"]["seq"]
        await bidder.send(json.dumps({"type": "bid", "ref": "r1", "kind": "proxy", "amount": 150_000, "key": "ws-1"}))
        ack = await _next(bidder, "ack")
        assert ack["ref"] == "r1" and ack["ack"]["status"] == "accepted"
        async with services.pool.acquire() as conn:  # acknowledged means durable
            stored = await conn.fetchval(
                "SELECT count(*) FROM auction_events WHERE auction_id = $1 AND kind = 'bid'", auction_id)
        assert stored == 1
        await bidder.send(json.dumps({"type": "bid", "ref": "r2", "kind": "bid", "amount": 100_001, "key": "ws-2"}))
        refused = await _next(bidder, "ack")
        assert refused["ref"] == "r2" and refused["ack"]["status"] == "rejected"
        events = await _events_until(watcher, start + 1)
    assert events[0]["price"] == 100_000 and events[0]["leader"] == "A001"
    assert "150000" not in json.dumps(events)  # the proxy maximum stays private


async def test_the_websocket_refuses_bad_input_anonymous_bids_and_other_sites(
    server: str, ws: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    url = f"{ws}/ws/lots/{auction_id}"
    async with websockets.connect(url) as anonymous:
        await _next(anonymous, "snapshot")
        await anonymous.send("not json")
        assert (await _next(anonymous, "error"))["status"] == 400
        await anonymous.send(json.dumps({"type": "bid", "ref": 1, "amount": 100_000}))
        keyless = await _next(anonymous, "error")
        assert keyless["ref"] == 1 and keyless["status"] == 400 and "key" in keyless["detail"]
        await anonymous.send(json.dumps({"type": "bid", "ref": 2, "amount": 100_000, "key": "x"}))
        refused = await _next(anonymous, "error")
        assert refused["ref"] == 2 and refused["status"] == 401
        await anonymous.send(json.dumps({"type": "resync"}))
        assert (await _next(anonymous, "snapshot"))["room"]["auction_id"] == auction_id
        await anonymous.send("x" * 5000)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _next(anonymous, "never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    bidder = await _token(services, parties.investors[0])
    async with websockets.connect(url, additional_headers=bidder) as investor:  # checked as HTTP bids are
        await _next(investor, "snapshot")
        for ref, bad in enumerate([{"amount": "lots", "key": "k"}, {"amount": True, "key": "k"},
                                   {"amount": 100_000, "kind": "sell", "key": "k"},
                                   {"amount": 100_000, "key": "é" * 3}, {"amount": 100_000, "key": ""}]):
            await investor.send(json.dumps({"type": "bid", "ref": ref} | bad))
            error = await _next(investor, "error")
            assert error["ref"] == ref and error["status"] == 422, error
            assert set(error["errors"]) <= {"amount", "kind", "idempotency_key"} and error["errors"]
    with pytest.raises(websockets.InvalidStatus) as refused_handshake:  # another site's page riding on a cookie
        await websockets.connect(url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused_handshake.value.response.status_code == 403
    async with websockets.connect(f"{ws}/ws/lots/999999") as missing:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await missing.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM auction_events WHERE kind = 'bid'") == 0


async def test_a_watcher_that_reconnects_catches_up_from_its_snapshot(
    server: str, ws: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    a, b = [await _token(services, investor) for investor in parties.investors]
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}") as watcher:
        before = (await _next(watcher, "snapshot"))["room"]["seq"]
    async with httpx.AsyncClient() as http:  # bids while the watcher is away
        for i, headers in enumerate([a, b, a]):
            response = await http.post(f"http://{server}/api/lots/{auction_id}/bids",
                                       json={"amount": 100_000 + i * 1_000}, headers=headers | {"Idempotency-Key": f"g-{i}"})
            assert response.status_code == 201
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}") as watcher:
        room = (await _next(watcher, "snapshot"))["room"]
    assert room["seq"] == before + 3 and room["price"] == 102_000
    async with httpx.AsyncClient() as http:
        missed = (await http.get(f"http://{server}/api/auctions/{auction_id}/events", params={"after": before})).json()
    assert [m["seq"] for m in missed] == [before + 1, before + 2, before + 3]


async def test_operator_schedules_and_qualifies_in_pages_and_the_room_renders(
    server: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    base = f"http://{server}"
    async with httpx.AsyncClient(base_url=base, follow_redirects=False) as browser:
        login = await browser.get("/login")
        response = await browser.post("/login", data={
            "email": "op@exchange.test", "password": PASSWORD, "_csrf": csrf_from(login.text)})
        assert response.status_code == 303
        form = await browser.get(f"/operator/auctions/new?listing={parties.listing_id}")
        assert form.status_code == 200 and 'id="schedule-form"' in form.text
        token = csrf_from(form.text)
        bad = await browser.post(f"/operator/auctions/new?listing={parties.listing_id}", data={
            "_csrf": token, "start_price": "-5", "increment": "10", "opens_at": "tomorrow",
            "scheduled_end": "2026-03-02T12:00", "quiet_period_s": "60"})
        assert bad.status_code == 422 and "start_price" in bad.text and "opens_at" in bad.text
        created = await browser.post(f"/operator/auctions/new?listing={parties.listing_id}", data={
            "_csrf": token, "start_price": "1,000.00", "increment": "１０", "opens_at": "2026-03-02T10:05",
            "scheduled_end": "2026-03-02T11:00", "quiet_period_s": "60"})
        assert created.status_code == 303, created.text
        manage_url = created.headers["location"]
        auction_id = int(manage_url.rsplit("/", 1)[1])
        page = await browser.get(manage_url)
        unknown = await browser.post(f"{manage_url}/bidders", data={"_csrf": csrf_from(page.text), "email": "nobody@x.test"})
        assert unknown.status_code == 404 and "nobody@x.test" in unknown.text
        approved = await browser.post(f"{manage_url}/bidders", data={
            "_csrf": csrf_from(page.text), "email": parties.investors[1].email})
        assert approved.status_code == 303
        page = await browser.get(manage_url)
        assert parties.investors[1].email in page.text and "A001" in page.text
        room = await browser.get(f"/auctions/{auction_id}")
        assert room.status_code == 200 and 'id="room-data"' in room.text and "/static/room.js" in room.text
        listing = await browser.get("/auctions")
        assert f"/auctions/{auction_id}" in listing.text
    summary = await services.auctions.get(auction_id)
    assert summary["currency"] == "CNY" and summary["minimum_bid"] == 100_000


async def test_a_watcher_that_stops_reading_is_dropped_and_the_others_carry_on(
    server: str, ws: str, feed: FeedServer, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", feed.port)
    stalled_writer.write(
        f"GET /ws/lots/{auction_id} HTTP/1.1\r\nHost: 127.0.0.1:{feed.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await stalled_reader.readline()).startswith(b"HTTP/1.1 101")  # then it never reads again
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}", max_size=None) as healthy:
        await _next(healthy, "snapshot")
        async with asyncio.timeout(5):
            while feed.watcher_count(auction_id) < 2:  # noqa: ASYNC110 - the server registers it on its side
                await asyncio.sleep(0.01)
        padding = "x" * 100_000
        frames = 200  # 20 MB: far more than the socket buffers hold for a reader that stopped
        received = 0

        async def read_all() -> None:
            nonlocal received
            while received < frames:
                if (await _next(healthy, "events"))["events"][0]["type"] == "bulk":
                    received += 1

        reading = asyncio.create_task(read_all())
        for i in range(frames):
            seq = 1_000_000 + i
            feed.deliver(auction_id, encode([{"lot": auction_id, "seq": seq, "type": "bulk", "pad": padding}]))
            await asyncio.sleep(0.001)
        await asyncio.wait_for(reading, 30)
        assert received == frames
        assert feed.dropped == 1 and feed.watcher_count(auction_id) == 1  # only the healthy one is left
    stalled_writer.close()


async def test_a_browser_session_bids_over_the_websocket_from_the_exchange_pages_only(
    server: str, ws: str, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    async with httpx.AsyncClient(base_url=f"http://{server}") as browser:
        login = await browser.get("/login")
        response = await browser.post("/login", data={
            "email": parties.investors[0].email, "password": PASSWORD, "_csrf": csrf_from(login.text)})
        assert response.status_code == 303
        cookie = f"tex_session={browser.cookies['tex_session']}"
        mine = await browser.get("/account")
        assert 'id="my-auctions"' in mine.text and f'href="/auctions/{auction_id}"' in mine.text and "A001" in mine.text
        room = await browser.get(f"/auctions/{auction_id}")
    assert f'data-feed="{ws}"' in room.text
    page_origin = f"http://{server}"
    async with websockets.connect(f"{ws}/ws/lots/{auction_id}", origin=page_origin,  # type: ignore[arg-type]
                                  additional_headers={"Cookie": cookie}) as socket:
        assert (await _next(socket, "snapshot"))["room"]["you"]["code"] == "A001"
        await socket.send(json.dumps({"type": "bid", "ref": "c1", "amount": 100_000, "key": "cookie-1"}))
        assert (await _next(socket, "ack"))["ack"]["status"] == "accepted"
    with pytest.raises(websockets.InvalidStatus):  # the same cookie, sent by another site's page
        await websockets.connect(f"{ws}/ws/lots/{auction_id}", origin="http://127.0.0.2:8000",  # type: ignore[arg-type]
                                 additional_headers={"Cookie": cookie})


async def test_one_address_and_one_account_may_open_only_so_many_live_feeds(
    services: Services, parties: Parties, clock: FixedClock, server: str, feed: FeedServer,
) -> None:
    auction_id = await _open_auction(services, parties, clock)
    feed.limits = FeedLimits(per_address=5, per_account=2)
    bidder = await _token(services, parties.investors[0])
    url = f"ws://127.0.0.1:{feed.port}/ws/lots/{auction_id}"
    mine = [await websockets.connect(url, additional_headers=bidder) for _ in range(2)]
    for socket in mine:
        assert (await _next(socket, "snapshot"))["room"]["you"]["code"] == "A001"
    third = await websockets.connect(url, additional_headers=bidder)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await third.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    public = [await websockets.connect(url) for _ in range(3)]  # 2 + 3 from this address: the limit
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 429
    await public[0].close()
    await asyncio.sleep(0.05)
    again = await websockets.connect(url)  # a closed one frees its place
    assert (await _next(again, "snapshot"))["room"]["auction_id"] == auction_id
    for socket in [*mine, *public[1:], again]:
        await socket.close()
