"""A whole sale in the browser, by bank transfer: the operator qualifies two investors, their
deposits are matched on the settlement desk, they bid, the winner confirms and pays the
balance, the seller delivers, the buyer accepts, and the certificate opens from the trade."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from exchange.config import PROJECT_ROOT
from tests.e2e.conftest import logged_in
from tests.e2e.test_auction_browser import BIDDERS, OPERATOR, _token

pytestmark = pytest.mark.e2e
DEMO_PASSWORD = "demo-pass-2026"



async def _schedule(live_server: str) -> tuple[int, str]:
    """A short auction on a demo listing nobody has auctioned: opens in 15 s, free bidding for 15 s,
    6 s timed rounds. Returns its id and the seller's e-mail."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as api:
        operator = await _token(api, *OPERATOR)
        auctioned = {a["listing_id"] for a in (await api.get("/api/auctions/")).json()}
        items: list[dict[str, Any]] = (await api.get("/api/catalogue/", params={"page_size": 50})).json()["items"]
        listing = next(i for i in items if i["competitive_method"] == "english_auction" and i["id"] not in auctioned)
        opens = datetime.now(UTC) + timedelta(seconds=15)
        created = await api.post("/api/auctions/", headers=operator, json={
            "listing_id": listing["id"], "start_price": listing["listing_price"],
            "increment": listing["listing_price"] // 100, "opens_at": opens.isoformat(),
            "scheduled_end": (opens + timedelta(seconds=15)).isoformat(), "quiet_period_s": 6,
        })
        assert created.status_code == 201, created.text
    demo = json.loads((PROJECT_ROOT / "exchange" / "demo" / "data.json").read_text())
    seller = next(i["email"] for i in demo["institutions"] if i["display_name"] == listing["seller_name"])
    return int(created.json()["auction_id"]), seller


async def _reload_until(page: Page, url: str, selector: str, seconds: float = 15) -> None:
    """Reloads `url` until `selector` is on it, as a person would after the result is announced."""
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    while True:
        await page.goto(url)
        if await page.locator(selector).count() or datetime.now(UTC) > deadline:
            return
        await page.wait_for_timeout(500)


async def _match_bank_line(desk: Page, reference: str, amount: str, statement_ref: str) -> None:
    await desk.fill("#reference_code", reference)
    await desk.fill("#amount", amount)
    await desk.fill("#statement_ref", statement_ref)
    await desk.click("#bank-line-form button[type=submit]")
    await expect(desk.locator(".flash")).to_contain_text(reference)


async def test_a_sale_from_the_deposits_to_the_certificate_in_the_browser(browser: Browser, live_server: str) -> None:
    auction_id, seller_email = await _schedule(live_server)
    manage = f"/operator/auctions/{auction_id}"
    operator = await logged_in(browser, live_server, *OPERATOR, then=manage)

    # the operator qualifies both demo investors on the manage page: each owes a deposit
    references = []
    for email, _ in BIDDERS:
        await operator.fill("#email", email)
        await operator.click("#approve-form button[type=submit]")
        await expect(operator.locator(".flash")).to_contain_text(f"{email} qualified; deposit due: reference D")
        flash = await operator.locator(".flash").inner_text()
        found = re.search(r"reference (D\d+), (¥[\d,]+\.\d\d)", flash)
        assert found, flash
        references.append(found.group(1))
        deposit_amount = found.group(2)
    await expect(operator.locator("#bidders [data-status=due]")).to_have_count(2)

    # each investor sees the deposit to pay, with the reference to quote, on the money page
    investors = [await logged_in(browser, live_server, email, password, then="/account/money") for email, password in BIDDERS]
    for page, reference in zip(investors, references, strict=True):
        await expect(page.locator(".due-deposit code.reference")).to_have_text(reference)
        await expect(page.locator(".due-deposit")).to_contain_text(deposit_amount)

    # the bank statement shows both transfers: the operator matches them on the settlement desk
    await operator.goto(f"{live_server}/operator/settlement")
    for reference in references:
        await _match_bank_line(operator, reference, deposit_amount.lstrip("¥"), f"E2E-{reference}")
    await operator.goto(f"{live_server}{manage}")
    await expect(operator.locator("#bidders [data-status=held]")).to_have_count(2)
    await expect(operator.locator("#bidders")).to_contain_text("A002")

    # both bid in the room; the second investor wins
    a, b = investors
    for page in investors:
        await page.goto(f"{live_server}/auctions/{auction_id}")
        await expect(page.locator("#phase")).to_have_attribute("data-phase", "free", timeout=30_000)
    await a.click("#bid-one")
    await expect(a.locator("#standing")).to_have_text("You are leading")
    await b.click("#bid-one")
    await expect(b.locator("#standing")).to_have_text("You are leading")
    price = await b.locator("#price").inner_text()
    await expect(b.locator("#result")).to_be_visible(timeout=30_000)
    await expect(b.locator("#standing")).to_have_text("You won this auction")

    # the winner confirms the contract and sees the balance to pay, with its reference
    await _reload_until(b, f"{live_server}/account/money", "#purchases .trade")  # the close settles just after
    trade = b.locator("#purchases .trade").first
    await expect(trade.locator(".trade-price")).to_have_text(price)
    await trade.locator("button.confirm-contract").click()
    await expect(b.locator(".flash")).to_contain_text("Contract confirmed")
    trade = b.locator("#purchases .trade").first
    balance_reference = await trade.locator("code.reference").inner_text()
    assert balance_reference.startswith("T"), balance_reference
    balance = await trade.locator(".pay-by-bank dd strong").inner_text()

    await operator.goto(f"{live_server}/operator/settlement")
    await _match_bank_line(operator, balance_reference, balance.lstrip("¥"), f"E2E-{balance_reference}")

    # the seller records the delivery; the buyer accepts it
    seller = await logged_in(browser, live_server, seller_email, DEMO_PASSWORD, then="/account/sales")
    sale = seller.locator(".trade", has_text=balance_reference)
    await sale.locator("textarea[name=note]").fill("Patent assignment registered: 2026-ZR-000123")
    await sale.locator(".delivery-form button[type=submit]").click()
    await expect(seller.locator(".flash")).to_contain_text("Delivery recorded")

    await b.goto(f"{live_server}/account/money")
    trade = b.locator("#purchases .trade", has_text=balance_reference)
    await expect(trade).to_contain_text("2026-ZR-000123")
    await trade.locator("button.accept-delivery").click()
    await expect(b.locator(".flash")).to_contain_text("Delivery accepted")

    # the certificate opens from the buyer's trade and shows the price, with a valid digest
    await b.locator("#purchases .trade", has_text=balance_reference).locator("a.certificate-link").click()
    await expect(b.locator("#certificate-price")).to_have_text(price)
    await expect(b.locator("#digest-valid")).to_have_text("Digest valid: the content is as issued.")
    await b.emulate_media(media="print")
    await expect(b.locator("#print")).to_be_hidden()
    await expect(b.locator("header.top")).to_be_hidden()
    await b.emulate_media(media="screen")
    await b.screenshot(path="test-results/certificate-en.png", full_page=True)

    # the other investor's deposit went back at the close
    await a.goto(f"{live_server}/account/money")
    # released at the close: the refund is on its way until the operator sends it
    await expect(a.locator(f"#deposit-list tr[data-reference={references[0]}] [data-status]")).to_have_text(
        "Refund on its way")
    await expect(a.locator("#refunds")).to_contain_text(deposit_amount)
    for page in (operator, a, b, seller):
        await page.context.close()
