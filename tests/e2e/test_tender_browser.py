"""A tender from announcement to award in Chromium, on an exchange whose clock runs 100,000
times faster (EXCHANGE_ACCELERATION): 20 days pass in about 17 s."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import api_client, exchange_server, logged_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO = "demo-pass-2026"


@pytest.fixture(scope="module")
def fast_server(pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"EXCHANGE_ACCELERATION": "100000", "EXCHANGE_TENDER_SWEEP_S": "0.3"}
    var_dir = tmp_path_factory.mktemp("e2e-tenders")
    with exchange_server(pg_server, redis_server, var_dir, "e2e_tenders", settings) as url:
        yield url




def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S")


def _wait_status(client: httpx.Client, tender_id: int, status: str, limit_s: float = 30) -> dict[str, Any]:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        tender: dict[str, Any] = client.get(f"/api/tenders/{tender_id}").json()
        if tender["status"] == status:
            return tender
        time.sleep(0.2)
    raise AssertionError(f"tender {tender_id} did not reach {status}: {tender['status']}")


async def test_a_tender_runs_from_announcement_to_award_in_the_browser(browser: Browser, fast_server: str) -> None:
    url = fast_server
    operator = api_client(url, "operator@exchange.demo", "operator-pass-2026")
    owner = await logged_in(browser, url, "tto@beichen.demo", locale="zh-CN")
    await owner.goto(f"{url}/tenders/new")
    now = datetime.now(SHANGHAI)
    await owner.fill("#title", "固态电池电解质中试技术开发")
    await owner.fill("#summary", "征集固态电解质中试工艺方案。")
    await owner.fill("#documents", "招标文件|技术要求与评标办法")
    await owner.fill("#estimate", "1000000")
    await owner.fill("#security", "20000")
    await owner.fill("#documents_issued_at", _local(now))
    await owner.fill("#deadline", _local(now + timedelta(seconds=26)))
    await owner.click("#tender-form button[type=submit]")
    await owner.wait_for_url(lambda u: "/tenders/new" not in u)
    tender_id = int(owner.url.rstrip("/").split("/")[-1].split("?")[0])

    op_page = await logged_in(browser, url, "operator@exchange.demo", "operator-pass-2026", locale="zh-CN")
    await op_page.goto(f"{url}/tenders/{tender_id}")
    await op_page.click("#approve-tender")
    await expect(op_page.locator("#tender-status")).to_have_text("Open for proposals")

    bidder = await logged_in(browser, url, "investor@capital.demo", locale="zh-CN")
    await bidder.goto(f"{url}/tenders/{tender_id}")
    await bidder.click("#request-security")
    reference = (await bidder.locator("#security-reference").inner_text()).strip()
    confirmed = operator.post("/api/tender-securities/bank-transfers", json={
        "reference_code": reference, "amount": 20_000_00, "statement_ref": "E2E-1"})
    assert confirmed.status_code == 201, confirmed.text
    await bidder.goto(f"{url}/tenders/{tender_id}")
    await bidder.fill("#price", "850000")
    await bidder.fill("#technical", "流延成型与热压烧结工艺。")
    await bidder.click("#submit-proposal")
    commitment = (await bidder.locator("#receipt-commitment").inner_text()).strip()
    assert len(commitment) == 64

    for n, (email, price) in enumerate([("buyer@huaxin.demo", 90_000_000), ("transfer@nanhu-bio.demo", 80_000_000)]):
        rival = api_client(url, email)
        security = rival.post(f"/api/tenders/{tender_id}/security").json()
        operator.post("/api/tender-securities/bank-transfers", json={
            "reference_code": security["reference_code"], "amount": security["amount"], "statement_ref": f"E2E-R{n}"})
        sent = rival.post(f"/api/tenders/{tender_id}/proposals", headers={"Idempotency-Key": f"r{n}"},
                          json={"price": price, "technical": "方案"})
        assert sent.status_code == 201, sent.text
    assert "850,000" not in await owner.content()

    _wait_status(operator, tender_id, "opened")
    await op_page.goto(f"{url}/tenders/{tender_id}")
    await expect(op_page.locator("#opening tbody tr")).to_have_count(3)
    await op_page.fill("#members", "评委甲\n评委乙\n评委丙\n评委丁\n评委戊")
    await op_page.click("#name-committee")
    await expect(op_page.locator("#candidates tbody tr")).to_have_count(3)
    assert "评委甲" not in await bidder.content()

    _wait_status(operator, tender_id, "awarded")
    await owner.goto(f"{url}/tenders/{tender_id}")
    await expect(owner.locator("#award-result")).to_contain_text("800,000.00")
    await expect(owner.locator("#committee-names")).to_contain_text("评委甲")
    await owner.fill("#note", "HT-2026-001")
    await owner.click("#record-contract")
    await expect(owner.locator("#contracted")).to_be_visible()
    assert {s["status"] for s in operator.get("/api/tender-securities/").json()} == {"refunded"}
    for page in (owner, op_page, bidder):
        await page.context.close()
    assert Path(os.devnull).exists()
