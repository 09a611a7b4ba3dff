"""Two investors in separate browsers fight over one lot in the live room, through a timed round."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from tests.e2e.conftest import logged_in

pytestmark = pytest.mark.e2e

OPERATOR = ("operator@exchange.demo", "operator-pass-2026")
BIDDERS = [("investor@capital.demo", "demo-pass-2026"), ("buyer@huaxin.demo", "demo-pass-2026")]


async def _token(api: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await api.post("/api/tokens", json={"email": email, "password": password, "name": "e2e"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def _short_auction(live_server: str) -> int:
    """Opens in a few seconds, free bidding for 15 s, then 8 s timed rounds."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as api:
        operator = await _token(api, *OPERATOR)
        auctioned = {a["listing_id"] for a in (await api.get("/api/auctions/")).json()}
        items: list[dict[str, Any]] = (await api.get("/api/catalogue/", params={"page_size": 50})).json()["items"]
        listing = next(i for i in items if i["competitive_method"] == "english_auction" and i["id"] not in auctioned)
        opens = datetime.now(UTC) + timedelta(seconds=3)
        created = await api.post("/api/auctions/", headers=operator, json={
            "listing_id": listing["id"], "start_price": 100_000, "increment": 10_000,
            "opens_at": opens.isoformat(), "scheduled_end": (opens + timedelta(seconds=15)).isoformat(),
            "quiet_period_s": 8,
        })
        assert created.status_code == 201, created.text
        auction_id: int = created.json()["auction_id"]
        for email, password in BIDDERS:
            me = (await api.get("/api/me", headers=await _token(api, email, password))).json()
            approved = await api.post(f"/api/auctions/{auction_id}/bidders", headers=operator,
                                      json={"investor_id": me["id"]})
            assert approved.status_code == 201, approved.text
            deposit = approved.json()["deposit"]
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
    await b.click("#bid-n button")
    await expect(b.locator("#standing")).to_have_text("You are leading")
    await expect(a.locator("#price")).to_have_text("¥1,300.00")
    await expect(a.locator("#standing")).to_have_text("You have been outbid")
    await expect(watcher.locator("#ladder tbody tr")).to_have_count(2)

    # A's typed amount that is not a whole increment is refused with a reason, and changes nothing
    await a.fill("#amount", "1350")
    await a.click("#bid-amount button")
    await expect(a.locator("#bid-message")).to_contain_text("not accepted")
    await expect(b.locator("#price")).to_have_text("¥1,300.00")

    # timed rounds: a bid restarts the quiet period, seen by both
    for page in (a, b):
        await expect(page.locator("#phase")).to_have_attribute("data-phase", "timed", timeout=20_000)
    await a.wait_for_timeout(3_000)  # the timed round's countdown runs down...
    before = await b.locator("#countdown").inner_text()
    assert re.fullmatch(r"00:0[0-6]", before), before
    await a.fill("#proxy-max", "2000")
    await a.click("#bid-proxy button")
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
    await a.screenshot(path="test-results/auction-room-en.png", full_page=True)
    await watcher.screenshot(path="test-results/auction-room-zh.png", full_page=True)

    async with httpx.AsyncClient(base_url=live_server) as api:
        room = (await api.get(f"/api/auctions/{auction_id}")).json()
    assert room["result"]["sold"] is True and room["result"]["price"] == 140_000
    assert [row["amount"] for row in room["ladder"]] == [140_000, 130_000, 100_000]
    for page in (a, b, watcher):
        await page.context.close()


async def test_the_demo_starts_with_an_auction_opening_within_minutes_for_both_demo_investors(
    live_server: str,
) -> None:
    async with httpx.AsyncClient(base_url=live_server) as api:
        live = [a for a in (await api.get("/api/auctions/")).json() if a["status"] != "closed"]
        assert len(live) == 1
        demo = live[0]
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
