"""Two investors in separate browsers fight over one lot in the live room, through a timed round;
the room's connection: its pings, its silence detection, reconnecting and resending bids."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from exchange.config import PROJECT_ROOT
from tests.e2e.conftest import STARTED_WITH, logged_in
from tests.integration.helpers import achievement_body, listing_body

pytestmark = pytest.mark.e2e

OPERATOR = ("operator@exchange.demo", "operator-pass-2026")
BIDDERS = [("investor@capital.demo", "demo-pass-2026"), ("buyer@huaxin.demo", "demo-pass-2026")]
SELLER = ("tto@beichen.demo", "demo-pass-2026")
# room.js: a ping every PING_EVERY_MS; a socket heard from for longer than SILENCE_MS is dropped
PING_EVERY_MS = 5_000
SILENCE_MS = 15_000


async def _token(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await api.post("/api/tokens", json={"email": email, "password": password, "name": "e2e"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _own_listing(api: httpx.AsyncClient, operator: dict[str, str], title: str) -> int:
    """An announced English-auction listing of its own, so a test leaves the demo's listings alone."""
    seller = await _token(api, *SELLER)
    # nothing in it that the catalogue's tests search or filter for: they count what they find
    achievement = await api.post("/api/achievements", headers=seller, json=achievement_body(
        title=title, title_en=f"Browser test lot ({title})", summary="浏览器测试专用，仅供竞价大厅测试。",
        field="other"))
    assert achievement.status_code == 201, achievement.text
    listing = await api.post("/api/listings", headers=seller, json=listing_body(achievement.json()["id"], deposit=0))
    assert listing.status_code == 201, listing.text
    listing_id: int = listing.json()["id"]
    approved = await api.post(f"/api/listings/{listing_id}/review", headers=operator, json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    return listing_id


async def _short_auction(live_server: str, *, free_s: int = 15, quiet_s: int = 8, own_listing: str | None = None) -> int:
    """Opens in a few seconds, free bidding for `free_s` (15 s), then `quiet_s` (8 s) timed rounds; on a demo
    listing nobody has auctioned, or on a new listing titled `own_listing`."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as api:
        operator = await _token(api, *OPERATOR)
        if own_listing is not None:
            listing_id = await _own_listing(api, operator, own_listing)
        else:
            auctioned = {a["listing_id"] for a in (await api.get("/api/auctions/")).json()}
            items: list[dict[str, Any]] = (await api.get("/api/catalogue/", params={"page_size": 50})).json()["items"]
            listing_id = next(i["id"] for i in items
                              if i["competitive_method"] == "english_auction" and i["id"] not in auctioned)
        opens = datetime.now(UTC) + timedelta(seconds=3)
        created = await api.post("/api/auctions/", headers=operator, json={
            "listing_id": listing_id, "start_price": 100_000, "increment": 10_000,
            "opens_at": opens.isoformat(), "scheduled_end": (opens + timedelta(seconds=free_s)).isoformat(),
            "quiet_period_s": quiet_s,
        })
        assert created.status_code == 201, created.text
        auction_id: int = created.json()["auction_id"]
        for email, password in BIDDERS:
            me = (await api.get("/api/me", headers=await _token(api, email, password))).json()
            approved = await api.post(f"/api/auctions/{auction_id}/bidders", headers=operator,
                                      json={"investor_id": me["id"]})
            assert approved.status_code == 201, approved.text
            deposit = approved.json()["deposit"]
            if deposit is None:  # a listing without a deposit admits a qualified bidder at once
                continue
            paid = await api.post("/api/bank-transfers", headers=operator, json={
                "reference_code": deposit["reference_code"], "amount": deposit["amount"],
                "statement_ref": f"E2E-{deposit['reference_code']}"})
            assert paid.status_code == 201, paid.text
            assert paid.json()["deposit"]["status"] == "held"
    return auction_id


async def test_two_bidders_fight_through_a_timed_round_and_both_see_the_result(
    browser: Browser, live_server: str
) -> None:
    auction_id = await _short_auction(live_server)
    a = await logged_in(browser, live_server, *BIDDERS[0], then=f"/auctions/{auction_id}")
    b = await logged_in(browser, live_server, *BIDDERS[1], then=f"/auctions/{auction_id}")
    watcher_context = await browser.new_context(locale="zh-CN")
    watcher = await watcher_context.new_page()
    await watcher.goto(f"{live_server}/auctions/{auction_id}")
    await expect(watcher.locator("#bid-panel")).to_have_count(0)  # the public only watches

    # free bidding opens on the server's timer; both rooms see it without a reload
    for page in (a, b):
        await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)
    await expect(a.locator("#bid-one-amount")).to_have_text("¥1,000.00")
    await a.click("#bid-one")
    await expect(a.locator("#bid-message")).to_contain_text("Bid accepted")
    await expect(a.locator("#standing")).to_have_text("You are leading")
    await expect(b.locator("#price")).to_have_text("¥1,000.00")
    await expect(b.locator("#bid-one-amount")).to_have_text("¥1,100.00")

    await b.fill("#n-steps", "3")
    await b.click("#bid-n button")  # several increments: reviewed before it is sent
    await expect(b.locator("#review-warning")).to_have_text(
        "Check the amount: it is 30% above the current price, 3 increments.")
    await b.click("#review-confirm")
    await expect(b.locator("#standing")).to_have_text("You are leading")
    await expect(a.locator("#price")).to_have_text("¥1,300.00")
    await expect(a.locator("#standing")).to_have_text("You have been outbid")
    await expect(a.locator("#bid-message")).to_have_text("")  # "Bid accepted" is stale: replaced
    await expect(watcher.locator("#ladder tbody tr")).to_have_count(2)

    # A's typed amount that is not a whole increment is refused with a reason, and changes nothing
    await a.fill("#amount", "1350")
    await a.click("#bid-amount button")
    await expect(a.locator("#bid-message")).to_contain_text("not accepted")
    await expect(b.locator("#price")).to_have_text("¥1,300.00")

    # timed rounds: a bid restarts the quiet period, seen by both
    for page in (a, b):
        await expect(page.locator("#phase")).to_have_attribute("data-phase", "timed", timeout=20_000)
    await expect(b.locator("#close-at")).to_have_text(
        re.compile(r"Timed rounds: closes at \d\d:\d\d:\d\d unless a bid restarts the round"))
    await a.wait_for_timeout(3_000)  # the timed round's countdown runs down...
    before = await b.locator("#countdown").inner_text()
    assert re.fullmatch(r"00:0[0-6]", before), before
    await a.fill("#proxy-max", "2000")
    await a.click("#bid-proxy button")
    await expect(a.locator("#review-confirm")).to_have_text("Confirm maximum of ¥2,000.00")
    await a.click("#review-confirm")
    await expect(a.locator("#standing")).to_have_text("You are leading")
    await expect(a.locator("#your-max")).to_contain_text("¥2,000.00")
    await expect(b.locator("#price")).to_have_text("¥1,400.00")
    await expect(b.locator("#countdown")).to_have_text(re.compile(r"00:0[78]"))  # ...and a bid restarts it in full
    await expect(b.locator("#your-max")).to_have_text("")  # another bidder's maximum is never shown
    assert "2,000" not in await b.content()

    # nobody bids for a whole quiet period: both rooms and the watcher show the result at once
    for page in (a, b, watcher):
        await expect(page.locator("#result")).to_be_visible(timeout=20_000)
    await expect(a.locator("#result")).to_have_text("Sold to A001 at ¥1,400.00")
    await expect(b.locator("#result")).to_have_text("Sold to A001 at ¥1,400.00")
    await expect(watcher.locator("#result")).to_contain_text("A001")
    await expect(b.locator("#bid-panel")).to_be_hidden()
    await expect(a.locator("#countdown-label")).to_have_text("Closed")
    await expect(a.locator("#standing")).to_have_text("You won this auction")
    await expect(b.locator("#standing")).to_have_text("You did not win this auction")
    await expect(b.locator("#close-at")).to_have_text(re.compile(r"Closed at \d\d:\d\d:\d\d"))
    await a.screenshot(path="test-results/auction-room-en.png", full_page=True)

    # the winner's next step: from the room to the trade, its deadline, and on the account page
    await expect(a.locator("#next-step-live")).to_be_visible()
    await expect(b.locator("#next-step-live")).to_be_hidden()
    await a.click("#next-step-live a")
    await a.wait_for_url(re.compile(r".*/trades/\d+$"))
    trade_url = a.url
    await expect(a.locator("#trade-price")).to_have_text("¥1,400.00")
    await expect(a.locator(".next-step")).to_contain_text("You won this lot. Confirm the contract by ")
    await a.goto(f"{live_server}/auctions/{auction_id}")
    await expect(a.locator("#next-step")).to_contain_text("Next step: You won this lot. Confirm the contract by ")
    await expect(a.locator("#trade-link")).to_have_attribute("href", trade_url.removeprefix(live_server))
    await a.goto(f"{live_server}/account")
    await expect(a.locator("#my-purchases")).to_contain_text("Confirm the contract by ")
    await a.goto(trade_url)
    await a.click("button.confirm-contract")
    await expect(a.locator(".pay-by-bank")).to_contain_text("once the operator matches it, the seller delivers.")
    await expect(a.locator(".pay-by-bank")).not_to_contain_text("you may bid")
    await a.goto(f"{live_server}/account")
    await expect(a.locator("#my-purchases")).to_contain_text("Pay the balance of ")
    await watcher.screenshot(path="test-results/auction-room-zh.png", full_page=True)

    async with httpx.AsyncClient(base_url=live_server) as api:
        room = (await api.get(f"/api/auctions/{auction_id}")).json()
    assert room["result"]["sold"] is True and room["result"]["price"] == 140_000
    assert [row["amount"] for row in room["ladder"]] == [140_000, 130_000, 100_000]
    for page in (a, b, watcher):
        await page.context.close()


def _demo_auction_title() -> str:
    """The demo auctions the first announced English-auction listing of its data set."""
    demo = json.loads((PROJECT_ROOT / "exchange" / "demo" / "data.json").read_text(encoding="utf-8"))
    title: str = next(item["achievement"]["title"] for item in demo["achievements"]
                      if item["approve"] and item["listing"]["competitive_method"] == "english_auction")
    return title


async def test_the_demo_starts_with_an_auction_opening_within_minutes_for_both_demo_investors(
    live_server: str,
) -> None:
    # what the exchange set up by itself, before the tests scheduled auctions of their own
    started = [a for a in STARTED_WITH[live_server] if a["status"] != "closed"]
    assert len(started) == 1
    assert started[0]["title"] == _demo_auction_title()
    async with httpx.AsyncClient(base_url=live_server) as api:
        on_demo_listing = [a for a in (await api.get("/api/auctions/")).json()
                           if a["listing_id"] == started[0]["listing_id"]]
        assert [a["auction_id"] for a in on_demo_listing] == [started[0]["auction_id"]]
        demo = on_demo_listing[0]
        assert demo["status"] != "closed"
        opens = datetime.fromisoformat(demo["opens_at"])
        assert opens - datetime.now(UTC) < timedelta(minutes=2)
        assert demo["bidder_count"] == 2
        for email, password in BIDDERS:
            room = (await api.get(f"/api/auctions/{demo['auction_id']}", headers=await _token(api, email, password))).json()
            assert room["you"]["code"] in ("A001", "A002")


async def test_a_dropped_connection_shows_reconnecting_and_resynchronises(browser: Browser, live_server: str) -> None:
    auction_id = await _short_auction(live_server)
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    network = {"up": True}
    sockets: list[WebSocketRoute] = []

    async def through_the_network(ws: WebSocketRoute) -> None:
        if not network["up"]:
            await ws.close(code=1006, reason="network down")
            return
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket(re.compile(r".*/ws/lots/.*"), through_the_network)
    await page.goto(f"{live_server}/auctions/{auction_id}?lang=en")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)
    await expect(page.locator("#conn-state")).to_be_hidden()

    network["up"] = False  # the connection drops, and reconnecting fails for now
    for ws in sockets:
        await ws.close(code=1006, reason="network down")
    await expect(page.locator("#conn-state")).to_be_visible()
    await expect(page.locator("#conn-state")).to_have_text("Connection lost; reconnecting…")
    async with httpx.AsyncClient(base_url=live_server) as api:  # a bid while the page is cut off
        bidder = await _token(api, *BIDDERS[0])
        placed = await api.post(f"/api/lots/{auction_id}/bids", json={"amount": 100_000},
                                headers=bidder | {"Idempotency-Key": "while-offline"})
        assert placed.status_code == 201, placed.text
    await page.wait_for_timeout(1_000)
    await expect(page.locator("#conn-state")).to_be_visible()
    await expect(page.locator("#leader-line")).to_have_text("No bids yet; starts at ¥1,000.00")  # it missed the bid
    await expect(page.locator("#ladder tbody tr")).to_have_count(0)

    network["up"] = True  # back: the next attempt connects and the snapshot brings the bid
    await expect(page.locator("#conn-state")).to_be_hidden(timeout=15_000)
    await expect(page.locator("#ladder tbody tr")).to_have_count(1)
    await expect(page.locator("#leader-line")).to_have_text("Leading: A001")
    await context.close()


class Relay:
    """The room's websockets through Playwright's router, relayed to the feed frame by frame, so a
    test can make a connection go quiet without closing it, as a dead network does."""

    def __init__(self) -> None:
        self.connections: list[WebSocketRoute] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []
        """(connection, message) the page sent, in order."""
        self.heard: list[tuple[int, dict[str, Any]]] = []
        """(connection, message) the page was given."""
        self.lost: list[tuple[int, dict[str, Any]]] = []
        """(connection, message) the feed sent and the page never got."""
        self.quiet: set[int] = set()
        """Connections whose frames from the feed no longer reach the page."""
        self.lose: Callable[[int, dict[str, Any]], bool] = lambda index, message: False
        """Frames from the feed that are lost on the way: given the connection and the message."""
        self.refusing = False
        """Connecting fails for now: a new socket is closed at once (1006)."""
        self.refused = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def route(self, ws: WebSocketRoute) -> None:
        if self.refusing:
            self.refused += 1
            await ws.close(code=1006, reason="network down")
            return
        server = ws.connect_to_server()
        index = len(self.connections)
        self.connections.append(ws)

        def to_feed(raw: str | bytes) -> None:
            self.sent.append((index, json.loads(raw)))
            server.send(raw)

        def to_page(raw: str | bytes) -> None:
            message = json.loads(raw)
            if index in self.quiet or self.lose(index, message):
                self.lost.append((index, message))
                return
            self.heard.append((index, message))
            ws.send(raw)

        ws.on_message(to_feed)
        server.on_message(to_page)

    def cut(self, index: int) -> None:
        """The connection dies under the page: it hears of it as an abnormal close (1006)."""
        ws = self.connections[index]
        task = asyncio.get_running_loop().create_task(ws.close(code=1006, reason="network down"))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def sent_of(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, m) for i, m in self.sent if m["type"] == kind]

    def heard_of(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, m) for i, m in self.heard if m["type"] == kind]

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
            await asyncio.sleep(0.02)


async def _room_through(relay: Relay, page: Page, live_server: str, auction_id: int) -> None:
    await page.route_web_socket(re.compile(r".*/ws/lots/.*"), relay.route)
    await page.goto(f"{live_server}/auctions/{auction_id}?lang=en")
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)
    await expect(page.locator("#conn-state")).to_be_hidden()


async def _bid(api: httpx.AsyncClient, auction_id: int, bidder: tuple[str, str], amount: int, key: str) -> None:
    placed = await api.post(f"/api/lots/{auction_id}/bids", json={"amount": amount},
                            headers=await _token(api, *bidder) | {"Idempotency-Key": key})
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted", placed.text


async def test_the_rooms_pings_are_answered_and_the_pongs_keep_a_quiet_connection_open(
    browser: Browser, live_server: str,
) -> None:
    """Nothing happens on the lot: only the answers to the room's pings tell it the connection lives.
    The page's clock is moved on like a laptop lid closed and opened (Playwright's clock), so the
    room's timers run without waiting for them."""
    auction_id = await _short_auction(live_server, free_s=600, own_listing="浏览器测试：心跳")
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.clock.install()
    relay = Relay()
    await _room_through(relay, page, live_server, auction_id)

    # twice the silence the room tolerates passes, a ping every 10 s, each answered
    for _ in range(3):
        pongs = len(relay.heard_of("pong"))
        await page.clock.fast_forward(2 * PING_EVERY_MS)
        await relay.until(lambda: len(relay.heard_of("pong")) > pongs, "a pong for the room's ping")  # noqa: B023
    assert all(i == 0 for i, _ in relay.sent_of("ping")) and len(relay.connections) == 1
    await expect(page.locator("#conn-state")).to_be_hidden()

    # the pongs are lost on the way, nothing else changes: after a while the room gives up on the socket
    relay.lose = lambda index, message: message["type"] == "pong"
    pings = len(relay.sent_of("ping"))
    await page.clock.fast_forward(2 * PING_EVERY_MS)
    await relay.until(lambda: len(relay.sent_of("ping")) > pings, "another ping")
    assert len(relay.connections) == 1
    await page.clock.fast_forward(2 * PING_EVERY_MS)  # 20 s without a word: more than SILENCE_MS
    await relay.until(lambda: [i for i, _ in relay.heard_of("snapshot")] == [0, 1],
                      "the room connects again and starts over from a snapshot")
    assert len(relay.connections) == 2
    await expect(page.locator("#conn-state")).to_be_hidden()
    await context.close()


async def test_a_connection_gone_silent_is_noticed_and_the_room_resynchronises(
    browser: Browser, live_server: str,
) -> None:
    auction_id = await _short_auction(live_server, free_s=600, own_listing="浏览器测试：静默")
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.clock.install()
    relay = Relay()
    await _room_through(relay, page, live_server, auction_id)

    # the network dies without a close: the socket stays open, and nothing more reaches the page
    relay.quiet.add(0)
    relay.refusing = True
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as api:
        await _bid(api, auction_id, BIDDERS[0], 100_000, "silent-1")
        await _bid(api, auction_id, BIDDERS[1], 110_000, "silent-2")
        await relay.until(lambda: len([m for i, m in relay.lost if m["type"] == "events"]) >= 1,
                          "the bids' events are sent and lost")
        await expect(page.locator("#ladder tbody tr")).to_have_count(0)  # it knows nothing of them
        await expect(page.locator("#conn-state")).to_be_hidden()  # nor that anything is wrong, yet

        await page.clock.fast_forward(SILENCE_MS + PING_EVERY_MS)
        await expect(page.locator("#conn-state")).to_be_visible()
        await expect(page.locator("#conn-state")).to_have_text("Connection lost; reconnecting…")
        await relay.until(lambda: relay.refused >= 1, "the room tries to connect again")
        await expect(page.locator("#leader-line")).to_have_text("No bids yet; starts at ¥1,000.00")

        relay.refusing = False  # the network is back: the next attempt connects
        await page.clock.fast_forward(10_000)  # past the room's back-off
        await expect(page.locator("#conn-state")).to_be_hidden()
        await expect(page.locator("#ladder tbody tr")).to_have_count(2)
        await expect(page.locator("#price")).to_have_text("¥1,100.00")
        await expect(page.locator("#leader-line")).to_have_text("Leading: A002")
        room = (await api.get(f"/api/auctions/{auction_id}")).json()
        assert [row["amount"] for row in room["ladder"]] == [110_000, 100_000]

        # and it is live again: the next bid arrives as it happens
        await _bid(api, auction_id, BIDDERS[0], 120_000, "silent-3")
        await expect(page.locator("#price")).to_have_text("¥1,200.00")
        await expect(page.locator("#leader-line")).to_have_text("Leading: A001")
        await expect(page.locator("#ladder tbody tr")).to_have_count(3)
    await context.close()


async def test_a_bid_unanswered_when_the_connection_drops_is_resent_with_its_key_and_applied_once(
    browser: Browser, live_server: str,
) -> None:
    auction_id = await _short_auction(live_server, free_s=600, own_listing="浏览器测试：重发出价")
    page = await logged_in(browser, live_server, *BIDDERS[0], then=f"/auctions/{auction_id}")
    relay = Relay()
    await page.route_web_socket(re.compile(r".*/ws/lots/.*"), relay.route)
    await page.reload()
    await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)
    await expect(page.locator("#conn-state")).to_be_hidden()

    # the bid reaches the exchange and is accepted; the connection dies before the answer gets back
    def dying(index: int, message: dict[str, Any]) -> bool:
        if index != 0 or not relay.sent_of("bid"):
            return False
        if message["type"] == "ack":
            relay.cut(0)
        return True

    relay.lose = dying
    await page.click("#bid-one")
    await relay.until(lambda: any(m["type"] == "ack" for _, m in relay.lost), "the bid is answered, unheard")
    await relay.until(lambda: len(relay.connections) == 2, "the room connects again")

    # the same bid, sent again on the new connection with its key, answered from the first time
    await expect(page.locator("#bid-message")).to_have_text("Bid accepted: ¥1,000.00")
    bids = relay.sent_of("bid")
    assert [i for i, _ in bids] == [0, 1]
    assert bids[0][1] == bids[1][1] and bids[0][1]["key"] and bids[0][1]["amount"] == 100_000
    assert [m["ack"]["status"] for i, m in relay.heard_of("ack")] == ["accepted"]
    await expect(page.locator("#standing")).to_have_text("You are leading")
    await expect(page.locator("#ladder tbody tr")).to_have_count(1)
    await expect(page.locator("#price")).to_have_text("¥1,000.00")

    async with httpx.AsyncClient(base_url=live_server) as api:  # applied once
        events = (await api.get(f"/api/auctions/{auction_id}/events")).json()
        room = (await api.get(f"/api/auctions/{auction_id}")).json()
    bid_events = [e for e in events if e["type"] == "bid"]
    assert [(e["bid"]["code"], e["price"]) for e in bid_events] == [("A001", 100_000)], events
    assert room["bid_count"] == 1 and [row["amount"] for row in room["ladder"]] == [100_000]
    await page.context.close()


async def _ladder(api: httpx.AsyncClient, auction_id: int) -> list[int]:
    events = (await api.get(f"/api/auctions/{auction_id}/events")).json()
    return [e["price"] for e in events if e["type"] == "bid"]


@pytest.mark.parametrize(("lang", "width"), [("en", 1366), ("zh", 390)])
async def test_a_typed_bid_far_above_the_price_is_reviewed_with_a_warning_before_it_binds(
    browser: Browser, live_server: str, lang: str, width: int, tmp_path: Path,
) -> None:
    """A mistyped amount (ten times the price) is shown for review with a strong warning, and
    nothing is sent until it is confirmed; a small step is reviewed without the warning; one
    increment stays one click."""
    auction_id = await _short_auction(live_server, free_s=600, own_listing=f"浏览器测试：出价确认 {lang}")
    a = await logged_in(browser, live_server, *BIDDERS[0], then=f"/auctions/{auction_id}")
    await a.set_viewport_size({"width": width, "height": 844 if width < 500 else 900})
    await a.goto(f"{live_server}/auctions/{auction_id}?lang={lang}")
    await expect(a.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)
    review, warning = a.locator("#bid-review"), a.locator("#review-warning")
    words = {
        "en": {"title": "Review your bid", "confirm": "Confirm bid of ¥10,000.00",
               "above": "¥9,000.00 above the current price of ¥1,000.00 (90 increments, 900%)",
               "warning": "Check the amount: it is 900% above the current price, 90 increments.",
               "accepted": "Bid accepted: ¥1,100.00"},
        "zh": {"title": "请确认您的出价", "confirm": "确认出价 ¥10,000.00",
               "above": "比当前价 ¥1,000.00 高 ¥9,000.00（90 个加价幅度，900%）",
               "warning": "请仔细核对金额：比当前价高 900%，即 90 个加价幅度。",
               "accepted": "出价成功：¥1,100.00"},
    }[lang]
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as api:
        await a.fill("#amount", "10000")  # meant 1000: a zero too many
        await a.press("#amount", "Enter")
        await expect(review).to_be_visible()
        await expect(a.locator("#review-title")).to_have_text(words["title"])
        await expect(a.locator("#review-amount")).to_have_text("¥10,000.00")
        await expect(a.locator("#review-above")).to_have_text(words["above"])
        await expect(warning).to_have_text(words["warning"])
        await expect(a.locator("#review-confirm")).to_have_text(words["confirm"])
        await expect(a.locator("#review-confirm")).to_be_focused()
        await expect(a.locator("#bid-amount")).to_be_hidden()
        await a.screenshot(path=str(tmp_path / f"room-review-{lang}-{width}.png"), full_page=True)
        assert await _ladder(api, auction_id) == []  # nothing sent while it is reviewed

        await a.click("#review-change")  # the bidder sees the mistake
        await expect(review).to_be_hidden()
        await expect(a.locator("#amount")).to_be_focused()
        assert await _ladder(api, auction_id) == []

        await a.fill("#amount", "1100")  # one increment above the start: reviewed, no warning
        await a.click("#bid-amount button")
        await expect(review).to_be_visible()
        await expect(warning).to_be_hidden()
        await a.click("#review-confirm")
        await expect(a.locator("#bid-message")).to_have_text(words["accepted"])
        await expect(review).to_be_hidden()
        assert await _ladder(api, auction_id) == [110_000]

        b = await logged_in(browser, live_server, *BIDDERS[1], then=f"/auctions/{auction_id}")
        await expect(b.locator("#bid-one-amount")).to_have_text("¥1,200.00")
        await b.click("#bid-one")  # one increment: one click, no review
        await expect(b.locator("#standing")).to_have_text("You are leading")
        await expect(b.locator("#bid-review")).to_be_hidden()
        assert await _ladder(api, auction_id) == [110_000, 120_000]
    await a.context.close()
    await b.context.close()


async def test_a_bid_held_by_an_earlier_proxy_is_on_the_ladder_and_the_room_says_why_it_does_not_lead(
    browser: Browser, live_server: str,
) -> None:
    auction_id = await _short_auction(live_server, free_s=600, own_listing="浏览器测试：代理出价")
    a = await logged_in(browser, live_server, *BIDDERS[0], then=f"/auctions/{auction_id}")
    b = await logged_in(browser, live_server, *BIDDERS[1], then=f"/auctions/{auction_id}?lang=zh")
    for page in (a, b):
        await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=15_000)

    await a.fill("#proxy-max", "2000")
    await a.click("#bid-proxy button")
    await a.click("#review-confirm")
    await expect(a.locator("#standing")).to_have_text("You are leading")
    await expect(b.locator("#price")).to_have_text("¥1,000.00")

    # B types 1,500: taken, and at once held by A's earlier maximum at the same amount
    await b.fill("#amount", "1500")
    await b.click("#bid-amount button")
    await b.click("#review-confirm")
    await expect(b.locator("#bid-message")).to_have_text("出价 ¥1,500.00 已受理，但另一竞买人更早设置的代理出价在该金额领先")
    await expect(b.locator("#standing")).to_have_text("您已被代理出价（自动出价）超越")
    await expect(a.locator("#standing")).to_have_text("You are leading")
    for page, auto in ((a, "(proxy)"), (b, "（代理）")):
        rows = page.locator("#ladder tbody tr")
        await expect(rows).to_have_count(3)
        await expect(rows.nth(0)).to_contain_text(f"A001 {auto}")
        await expect(rows.nth(0)).to_contain_text("¥1,500.00")
        await expect(rows.nth(1)).to_contain_text("A002")
        await expect(rows.nth(1)).not_to_contain_text(auto)
        await expect(rows.nth(1)).to_contain_text("¥1,500.00")
        await expect(rows.nth(2)).to_contain_text("A001")
        await expect(rows.nth(2)).to_contain_text("¥1,000.00")
    async with httpx.AsyncClient(base_url=live_server) as api:
        room = (await api.get(f"/api/auctions/{auction_id}")).json()
    assert [(r["code"], r["amount"], r["proxy"]) for r in room["ladder"]] == [
        ("A001", 150_000, True), ("A002", 150_000, False), ("A001", 100_000, True)]
    assert "2,000" not in await b.content()  # A's maximum stays private

    # a page opened now shows the same ladder from the server
    await b.reload()
    await expect(b.locator("#ladder tbody tr")).to_have_count(3)
    await expect(b.locator("#ladder tbody tr").nth(1)).to_contain_text("A002")

    # B bids again above A's maximum: leads, and the stale warning is gone
    await b.fill("#amount", "2100")
    await b.click("#bid-amount button")
    await b.click("#review-confirm")
    await expect(b.locator("#standing")).to_have_text("您当前领先")
    await expect(b.locator("#bid-message")).to_have_text("出价成功：¥2,100.00")
    await expect(a.locator("#standing")).to_have_text("You have been outbid")
    await expect(a.locator("#bid-message")).to_have_text("")
    for page in (a, b):
        await page.context.close()
