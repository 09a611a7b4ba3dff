"""Agreement pricing with notice in Chromium (DOMAIN.md: the notice runs >= 15 days; anyone may
object; objections and their outcome are published; only then can the deal close), on an
exchange whose clock runs 28,800 times faster (EXCHANGE_ACCELERATION): 15 days pass in 45 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, expect

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import api_client, exchange_server, logged_in
from tests.integration.helpers import achievement_body

ACCELERATION = 86_400 * 15 // 45


@pytest.fixture(scope="module")
def fast_server(pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # the trade's own deadlines (contract, balance) at their longest, so it waits for the buyer
    settings = {"EXCHANGE_ACCELERATION": str(ACCELERATION), "EXCHANGE_AGREEMENT_SWEEP_S": "0.3",
                "EXCHANGE_CONTRACT_WD": "60", "EXCHANGE_BALANCE_WD": "60"}
    var_dir = tmp_path_factory.mktemp("e2e-agreements")
    with exchange_server(pg_server, redis_server, var_dir, "e2e_agreements", settings) as url:
        yield url


async def test_agreement_notice_objection_dismissed_and_the_trade_opens_for_the_buyer(
        browser: Browser, fast_server: str) -> None:
    url = fast_server
    seller_api = api_client(url, "tto@beichen.demo")
    title = "柔性压力传感阵列及其制备方法"
    made = seller_api.post("/api/achievements", json=achievement_body(title=title, title_en="Flexible pressure array",
                                                                       appraised_value=50_000_00))
    assert made.status_code == 201, made.text
    achievement_id = made.json()["id"]

    seller = await logged_in(browser, url, "tto@beichen.demo")
    await seller.goto(f"{url}/account")
    await seller.click(f"a[href='/agreements/new?achievement={achievement_id}']")
    await seller.fill("#buyer_email", "investor@capital.demo")
    await seller.fill("#price", "600000")
    await seller.select_option("#transfer_mode", "licence")
    await seller.check("#related_party")
    await seller.fill("#related_party_note", "受让方股东之一为发明人")
    await seller.click("#publish-agreement")
    await seller.wait_for_url(lambda u: "/agreements/new" not in u)
    agreement_id = int(seller.url.rstrip("/").split("/")[-1].split("?")[0])
    await expect(seller.locator("#agreement-price")).to_have_text("¥600,000.00")
    await expect(seller.locator("#related-party")).to_contain_text("受让方股东之一为发明人")
    await expect(seller.locator("#file-objection")).to_have_count(0)  # the seller cannot object

    objector = await logged_in(browser, url, "buyer@huaxin.demo")
    await objector.goto(f"{url}/agreements")
    await objector.click(f"#agreements a[href='/agreements/{agreement_id}']")
    await objector.fill("#grounds", "协议价格未说明与评估值的关系，请补充定价依据。")
    await objector.click("#file-objection")
    await expect(objector.locator("#agreement-status")).to_have_text("Objection pending")
    await expect(objector.locator("#objection-pause")).to_be_visible()

    operator = await logged_in(browser, url, "operator@exchange.demo", "operator-pass-2026")
    await operator.goto(f"{url}/agreements/{agreement_id}")
    await expect(operator.locator("#objections")).to_contain_text("华信智能制造")  # the operator sees who
    await operator.fill("#objections textarea[name=answer]", "定价以评估报告为依据，异议不成立。")
    await operator.click("#objections button.dismiss")
    await expect(operator.locator("#objections .outcome-dismissed")).to_contain_text("异议不成立。")

    public = api_client(url, "buyer@huaxin.demo")
    end = time.monotonic() + 90
    while public.get(f"/api/agreements/{agreement_id}").json()["status"] != "dealt":
        assert time.monotonic() < end, "the notice did not clear after its period"
        await asyncio.sleep(0.5)
    trade_id = api_client(url, "investor@capital.demo").get(f"/api/agreements/{agreement_id}").json()["trade_id"]
    assert trade_id is not None
    buyer = await logged_in(browser, url, "investor@capital.demo", then="/account/money")
    trade = buyer.locator(f"#trade-{trade_id}")
    await expect(trade).to_contain_text("Flexible pressure array")
    await expect(trade).to_have_attribute("data-status", "awaiting_contract")
    await expect(trade.locator(".trade-price")).to_have_text("¥600,000.00")
    await trade.locator("h3 a").click()
    await expect(buyer.locator("#trade-facts")).to_contain_text("Flexible pressure array")
    await buyer.click(f"#trade-facts a[href='/agreements/{agreement_id}']")
    await expect(buyer.locator("#agreement-status")).to_have_text("Dealt")
    # the objection and its outcome are public, the objector is not
    await expect(buyer.locator("#objections")).to_contain_text("请补充定价依据")
    await expect(buyer.locator("#objections")).not_to_contain_text("华信智能制造")
