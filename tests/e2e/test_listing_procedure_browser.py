"""A listing from intent registration to its outcome in Chromium, on an exchange whose clock runs
50,000 times faster (EXCHANGE_ACCELERATION): the 20 working days of the announcement pass in
under a minute, the 5 of the qualification in about 12 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import api_client, exchange_server, logged_in
from tests.integration.helpers import achievement_body, listing_body


@pytest.fixture(scope="module")
def fast_server(pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"EXCHANGE_ACCELERATION": "50000", "EXCHANGE_AUCTION_NOTICE_DAYS": "0"}
    var_dir = tmp_path_factory.mktemp("e2e-procedure")
    with exchange_server(pg_server, redis_server, var_dir, "e2e_procedure", settings) as url:
        yield url


def _wait_status(client: httpx.Client, listing_id: int, status: str, limit_s: float = 120) -> dict[str, Any]:
    end = time.monotonic() + limit_s
    view: dict[str, Any] = {}
    while time.monotonic() < end:
        view = client.get(f"/api/listings/{listing_id}/procedure").json()
        if view["status"] == status:
            return view
        time.sleep(0.2)
    raise AssertionError(f"listing {listing_id} did not reach {status}: {view.get('status')}")


async def test_a_listing_runs_from_intent_registration_to_the_agreement_in_the_browser(
    browser: Browser, fast_server: str,
) -> None:
    url = fast_server
    operator = api_client(url, "operator@exchange.demo", "operator-pass-2026")
    seller = api_client(url, "tto@beichen.demo")
    achievement = seller.post("/api/achievements", json=achievement_body(title="浏览器测试：正极材料"))
    assert achievement.status_code == 201, achievement.text
    listing = seller.post("/api/listings", json=listing_body(
        achievement.json()["id"], deposit=0, bidder_conditions="依法设立的企业法人。\n具有电池生产经验。"))
    assert listing.status_code == 201, listing.text
    listing_id = listing.json()["id"]
    assert operator.post(f"/api/listings/{listing_id}/review", json={"decision": "approve"}).status_code == 200

    buyer = await logged_in(browser, url, "investor@capital.demo", then=f"/listings/{listing_id}")
    await buyer.fill("#statement", "We are a legally established company with a battery line.")
    await buyer.click("#register-intent")
    await expect(buyer.locator("#my-intent-status")).to_have_attribute("data-status", "registered")
    await expect(buyer.locator("#withdraw-intent")).to_be_visible()

    staff = await logged_in(browser, url, "operator@exchange.demo", "operator-pass-2026",
                            then=f"/listings/{listing_id}/procedure")
    await expect(staff.locator("#published-conditions li")).to_have_count(2)
    qualifying = _wait_status(operator, listing_id, "qualifying")
    intent_id = qualifying["intents"][0]["id"]
    await staff.goto(f"{url}/listings/{listing_id}/procedure")
    await expect(staff.locator("#qualification-due")).to_be_visible()
    assert (await staff.locator("main").inner_text()).count("Qualifying buyers") == 1, "the status is said once"
    await staff.click(f"#intent-{intent_id} button.qualify")
    await expect(staff.locator("#procedure-status")).to_have_attribute("data-status", "agreement")
    await expect(staff.locator("#agreement-due")).to_be_visible()

    await buyer.goto(f"{url}/listings/{listing_id}")
    await expect(buyer.locator("#my-intent-status")).to_have_attribute("data-status", "qualified")
    await buyer.fill("#quote", "1000")  # below the listing price: refused, nothing changes
    await buyer.click("#confirm-agreement")
    await expect(buyer.locator(".errors")).to_contain_text("quote")
    await buyer.fill("#quote", "120000")
    await buyer.click("#confirm-agreement")
    await buyer.wait_for_url(lambda u: "/trades/" in u)
    view = operator.get(f"/api/listings/{listing_id}/procedure").json()
    assert view["status"] == "dealt" and len(view["trades"]) == 1
    record = operator.get("/api/disclosures", params={"kind": "listing_outcome", "procedure": view["reference_no"]})
    assert record.json()["records"][0]["body"]["outcome"] == "agreement"
