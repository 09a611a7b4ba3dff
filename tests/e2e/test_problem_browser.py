"""A problem tender's milestone from submission to payment in Chromium. The tender is announced
with its budget and milestones, awarded and escrowed over the API on an exchange whose clock runs
100,000 times faster with short tender periods; then the solver submits the deliverable on the
problem page, the owner accepts it there, and the solver sees the payment to be sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import api_client, exchange_server, logged_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO = "demo-pass-2026"
OPERATOR = ("operator@exchange.demo", "operator-pass-2026")


@pytest.fixture(scope="module")
def problem_server(pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {
        "EXCHANGE_ACCELERATION": "100000", "EXCHANGE_TENDER_SWEEP_S": "0.2", "EXCHANGE_TENDER_MIN_DAYS_TO_DEADLINE": "1",
        "EXCHANGE_TENDER_QUESTIONS_CLOSE_DAYS": "0", "EXCHANGE_TENDER_MIN_PROPOSALS": "1",
        "EXCHANGE_TENDER_CANDIDATES_DAYS": "1",
    }
    var_dir = tmp_path_factory.mktemp("e2e-problems")
    with exchange_server(pg_server, redis_server, var_dir, "e2e_problems", settings) as url:
        yield url




def _wait_status(client: httpx.Client, tender_id: int, status: str, limit_s: float = 20) -> dict[str, Any]:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        tender: dict[str, Any] = client.get(f"/api/tenders/{tender_id}").json()
        if tender["status"] == status:
            return tender
        time.sleep(0.2)
    raise AssertionError(f"tender {tender_id} did not reach {status}: {tender['status']}")


def _awarded_and_escrowed(url: str) -> int:
    owner, solver, operator = api_client(url, "tto@beichen.demo"), api_client(url, "investor@capital.demo"), api_client(url, *OPERATOR)
    now = datetime.now(SHANGHAI)
    announced = owner.post("/api/tenders/", json={
        "title": "高通量电解质筛选难题", "summary": "揭榜挂帅：固态电解质离子电导率提升。", "estimate": 300_000_00,
        "security": 0, "documents_issued_at": now.isoformat(), "deadline": (now + timedelta(seconds=4)).isoformat()})
    assert announced.status_code == 201, announced.text
    tender_id: int = announced.json()["id"]
    today = now.date()
    defined = owner.post(f"/api/tenders/{tender_id}/problem/", json={"budget": 300_000_00, "milestones": [
        {"title": "小样验证", "criteria": "电导率 ≥ 1 mS/cm", "share": 100_000_00, "due_on": str(today)},
        {"title": "中试验证", "criteria": "百公斤级中试", "share": 200_000_00, "due_on": str(today)}]})
    assert defined.status_code == 201, defined.text
    assert operator.post(f"/api/tenders/{tender_id}/review", json={"decision": "approve"}).status_code == 200
    proposal = solver.post(f"/api/tenders/{tender_id}/proposals", headers={"Idempotency-Key": "p1"},
                           json={"price": 280_000_00, "technical": "高通量计算筛选加实验验证。"})
    assert proposal.status_code == 201, proposal.text
    _wait_status(operator, tender_id, "opened")
    named = operator.post(f"/api/tenders/{tender_id}/committee",
                          json={"members": ["评委甲", "评委乙", "评委丙", "评委丁", "评委戊"]})
    assert named.status_code == 200, named.text
    _wait_status(operator, tender_id, "awarded")
    reference = owner.get(f"/api/tenders/{tender_id}/problem/").json()["escrow"]["reference_code"]
    funded = operator.post("/api/problem-escrows/bank-transfers", json={
        "reference_code": reference, "amount": 300_000_00, "statement_ref": f"E2E-{reference}"})
    assert funded.status_code == 201, funded.text
    return tender_id


async def test_a_milestone_runs_from_submission_to_payment_in_the_browser(
    browser: Browser, problem_server: str,
) -> None:
    url = problem_server
    tender_id = _awarded_and_escrowed(url)
    solver = await logged_in(browser, url, "investor@capital.demo", locale="zh-CN")
    await solver.goto(f"{url}/tenders/{tender_id}")
    await solver.click("#problem-link")
    await expect(solver.locator("#problem-status")).to_have_attribute("data-status", "funded")
    await solver.fill("#note-1", "小样检测报告 BG-2026-001，电导率 1.2 mS/cm。")
    await solver.click("#submit-1")
    await expect(solver.locator("#milestone-1 .milestone-status")).to_have_attribute("data-status", "submitted")

    owner = await logged_in(browser, url, "tto@beichen.demo", locale="zh-CN")
    await owner.goto(f"{url}/problems/{tender_id}")
    await expect(owner.locator("#deliverable-1")).to_contain_text("BG-2026-001")
    await expect(owner.locator("#escrow-held")).to_contain_text("300,000.00")
    await owner.click("#accept-1")
    await expect(owner.locator("#milestone-1 .milestone-status")).to_have_attribute("data-status", "accepted")
    await expect(owner.locator("#escrow-held")).to_contain_text("200,000.00")

    await solver.goto(f"{url}/problems/{tender_id}")
    await expect(solver.locator("#payouts")).to_contain_text("100,000.00")
    await expect(solver.locator("#escrow-held")).to_have_count(0)  # the owner's money is not the solver's to see
    payouts = api_client(url, *OPERATOR).get("/api/payouts/", params={"status": "to_send"}).json()
    assert any(p["purpose"] == "milestone" and p["amount"] == 100_000_00 for p in payouts), payouts
    for page in (solver, owner):
        await page.context.close()
