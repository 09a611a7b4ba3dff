"""Switching language keeps what the visitor was looking at; English pages use English titles and
plurals; the English header fits one row on a desktop screen."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import logged_in

pytestmark = pytest.mark.e2e

INVESTOR = ("investor@capital.demo", "demo-pass-2026")
OPERATOR = ("operator@exchange.demo", "operator-pass-2026")


async def test_switching_language_keeps_the_search_and_its_filters(browser: Browser, live_server: str) -> None:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{live_server}/?q=sensor&min_price=1000&lang=en")
    await expect(page.locator("#q")).to_have_value("sensor")
    shown = await page.locator("#result-count").inner_text()
    await page.click("#lang-switch")
    await page.wait_for_url(re.compile(r".*lang=zh"))
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"q": ["sensor"], "min_price": ["1000"], "lang": ["zh"]}, page.url
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("#q")).to_have_value("sensor")
    await expect(page.locator("#min_price")).to_have_value("1000")
    assert re.sub(r"\D", "", await page.locator("#result-count").inner_text()) == re.sub(r"\D", "", shown)
    await context.close()


async def test_one_result_reads_as_one_listing_in_english(browser: Browser, live_server: str) -> None:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{live_server}/?q=KRAS&lang=en")
    await expect(page.locator("#result-count")).to_have_text("1 listing")
    await page.goto(f"{live_server}/?lang=en")
    await expect(page.locator("#result-count")).to_have_text(re.compile(r"^\d+ listings$"))
    await context.close()


async def test_the_english_room_and_auction_list_show_the_english_title(browser: Browser, live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as api:
        auctions: list[dict[str, Any]] = (await api.get("/api/auctions/")).json()
    auction = next(a for a in auctions if a["title_en"])
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{live_server}/auctions?lang=en")
    await expect(page.locator(f'a[href="/auctions/{auction["auction_id"]}"]').first).to_have_text(auction["title_en"])
    await page.goto(f"{live_server}/auctions/{auction['auction_id']}?lang=en")
    await expect(page.locator("#room-title")).to_have_text(auction["title_en"])
    await page.goto(f"{live_server}/auctions/{auction['auction_id']}?lang=zh")
    await expect(page.locator("#room-title")).to_have_text(auction["title"])
    await context.close()


@pytest.mark.parametrize("who", [INVESTOR, OPERATOR, None], ids=["investor", "operator", "visitor"])
async def test_the_english_header_fits_one_row_at_1366_px(
    browser: Browser, live_server: str, who: tuple[str, str] | None,
) -> None:
    if who is None:
        context = await browser.new_context(locale="en-GB")
        page = await context.new_page()
    else:
        page = await logged_in(browser, live_server, *who, then="/account")
        context = page.context
    await page.set_viewport_size({"width": 1366, "height": 900})
    await page.goto(f"{live_server}/auctions?lang=en")
    brand = await page.locator(".brand").bounding_box()
    switch = await page.locator("#lang-switch").bounding_box()
    assert brand is not None and switch is not None
    assert abs((brand["y"] + brand["height"] / 2) - (switch["y"] + switch["height"] / 2)) < 12, (brand, switch)
    await context.close()
