"""A one-time sealed quote (一次性报价) in Chromium, on an exchange whose clock runs 10,000 times
faster (EXCHANGE_ACCELERATION): the demo opens a quote round on a listing whose two demo
investors are qualified with their deposits held; 3 working days pass in well under a minute."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import api_client, exchange_server, logged_in


@pytest.fixture(scope="module")
def quote_server(pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"EXCHANGE_ACCELERATION": "10000", "EXCHANGE_QUOTE_SWEEP_S": "0.3"}
    with exchange_server(pg_server, redis_server, tmp_path_factory.mktemp("e2e-quotes"), "e2e_quotes", settings) as url:
        yield url


def _round(client: httpx.Client, listing_id: int) -> dict[str, Any]:
    view: dict[str, Any] = client.get(f"/api/listings/{listing_id}/quote-round").json()
    return view


def _collecting(client: httpx.Client) -> list[dict[str, Any]]:
    rounds: list[dict[str, Any]] = client.get("/api/quote-rounds/", params={"status": "collecting"}).json()
    return rounds


def _wait_status(client: httpx.Client, listing_id: int, status: str, limit_s: float = 90) -> dict[str, Any]:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        view = _round(client, listing_id)
        if view["round"]["status"] == status:
            return view
        time.sleep(0.3)
    raise AssertionError(f"the quote round of listing {listing_id} did not reach {status}: {view['round']}")


async def test_two_buyers_quote_sealed_in_the_browser_and_the_highest_price_wins_the_trade(
    browser: Browser, quote_server: str,
) -> None:
    url = quote_server
    operator = api_client(url, "operator@exchange.demo", "operator-pass-2026")
    collecting = _collecting(operator)
    assert len(collecting) == 1, collecting  # the demo's round: both demo investors may quote
    listing_id = collecting[0]["listing_id"]
    view = _round(operator, listing_id)
    assert view["listing"]["method"] == "sealed_quote"
    floor = view["listing"]["listing_price"]

    receipts = {}
    pages = {}
    for email, price in [("investor@capital.demo", floor + 150_000_00), ("buyer@huaxin.demo", floor + 90_000_00)]:
        page = await logged_in(browser, url, email)
        await page.goto(f"{url}/listings/{listing_id}/quote?lang=en")
        await expect(page.locator("#quote-status")).to_have_text("Collecting sealed quotes")
        await page.fill("#price", f"{price // 100}")
        await page.click("#submit-quote")
        receipts[email] = (await page.locator("#receipt-commitment").inner_text()).strip()
        assert len(receipts[email]) == 64
        pages[email] = page
    sealed_view = _round(operator, listing_id)
    assert sealed_view["round"]["proposals"] == 2 and sealed_view["round"]["opening"] is None
    loser_page = pages["buyer@huaxin.demo"]
    await loser_page.reload()
    assert f"{(floor + 150_000_00) // 100:,}" not in await loser_page.content()  # the rival's price stays sealed

    awarded = _wait_status(operator, listing_id, "awarded")
    assert awarded["round"]["result"]["price"] == floor + 150_000_00
    winner = pages["investor@capital.demo"]
    await winner.goto(f"{url}/listings/{listing_id}/quote?lang=en")
    await expect(winner.locator("#quote-status")).to_have_text("Awarded")
    await expect(winner.locator("#quote-opening tbody tr")).to_have_count(2)
    await expect(winner.locator("#quote-result")).to_contain_text(f"{(floor + 150_000_00) // 100:,}")
    await winner.click("#quote-trade")
    await winner.wait_for_url(lambda u: "/trades/" in u)
    await expect(winner.locator("#trade-price")).to_contain_text(f"{(floor + 150_000_00) // 100:,}")
    await loser_page.goto(f"{url}/listings/{listing_id}/quote?lang=en")
    await expect(loser_page.locator("#quote-trade")).to_have_count(0)
    for page in pages.values():
        await page.context.close()
