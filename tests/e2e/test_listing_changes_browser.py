"""A listing's announcement period in Chromium: the institution extends it and requests a change
of terms, the operator approves it and the page shows the restarted period; the operator
suspends the listing and resumes it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.async_api import Browser, expect

from tests.e2e.conftest import api_client, logged_in
from tests.integration.helpers import achievement_body, listing_body

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def _shown(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


async def test_listing_period_extension_change_and_suspension_in_the_browser(browser: Browser, live_server: str) -> None:
    url = live_server
    institution = api_client(url, "tto@beichen.demo")
    operator = api_client(url, "operator@exchange.demo", "operator-pass-2026")
    achievement = institution.post("/api/achievements", json=achievement_body(title="一种钙钛矿叠层电池封装方法"))
    assert achievement.status_code == 201, achievement.text
    listing = institution.post("/api/listings", json=listing_body(achievement.json()["id"]))
    assert listing.status_code == 201, listing.text
    listing_id = listing.json()["id"]
    approved = operator.post(f"/api/listings/{listing_id}/review", json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    first_end = approved.json()["announcement_end"]

    owner = await logged_in(browser, url, "tto@beichen.demo", then=f"/listings/{listing_id}")
    await owner.click("#listing-changes-link")
    await expect(owner.locator("#period-end")).to_have_text(_shown(first_end))
    await owner.fill("#working_days", "5")
    await owner.click("#extend")
    extended = institution.get(f"/api/listings/{listing_id}/changes").json()["listing"]
    assert extended["extensions"] == 1 and _at(extended["announcement_end"]) > _at(first_end)
    await expect(owner.locator("#period-end")).to_have_text(_shown(extended["announcement_end"]))
    await expect(owner.locator("#history")).to_contain_text("5 working days added")

    await owner.fill("#listing_price", "135000")
    await owner.fill("#terms", "合同签订后 15 个工作日内一次性付清。")
    await owner.fill("#reasons", "根据最新评估调整挂牌价与付款期限")
    await owner.click("#request-change")
    await expect(owner.locator("#open-change")).to_contain_text("135,000.00")
    await expect(owner.locator("#current-price")).to_contain_text("120,000.00")  # not before the approval

    op_page = await logged_in(browser, url, "operator@exchange.demo", "operator-pass-2026",
                              then=f"/listings/{listing_id}/changes")
    await expect(op_page.locator("#open-change")).to_contain_text("135,000.00")
    await op_page.fill("#note", "材料齐全，同意变更")
    await op_page.click("#approve-change")
    restarted = operator.get(f"/api/listings/{listing_id}/changes").json()["listing"]
    assert _at(restarted["announcement_end"]) < _at(extended["announcement_end"])  # 20 working days from now again
    assert _at(restarted["announcement_start"]) > _at(approved.json()["announcement_start"])
    await expect(op_page.locator("#current-price")).to_contain_text("135,000.00")
    await expect(op_page.locator("#period-start")).to_have_text(_shown(restarted["announcement_start"]))
    await expect(op_page.locator("#period-end")).to_have_text(_shown(restarted["announcement_end"]))
    await expect(op_page.locator("#history")).to_contain_text("Period restarted, ends "
                                                              + _shown(restarted["announcement_end"]))
    await expect(op_page.locator("#change-requests")).to_contain_text("Approved")

    await op_page.fill("#suspend-reason", "收到权属异议，核实期间中止挂牌")
    await op_page.click("#suspend")
    await expect(op_page.locator("#listing-status")).to_have_text("Suspended")
    suspended = operator.get(f"/api/listings/{listing_id}/changes").json()["listing"]
    await expect(op_page.locator("#resume-by")).to_have_text(_shown(suspended["resume_by"]))
    await owner.goto(f"{url}/listings/{listing_id}/changes")
    await expect(owner.locator("#request-form")).to_be_visible()  # a change may be requested meanwhile
    await expect(owner.locator("#extend-form")).to_have_count(0)
    await op_page.click("#resume")
    await expect(op_page.locator("#listing-status")).to_have_text("Announced")
    await expect(op_page.locator("#history")).to_contain_text("resumed by the exchange")
    resumed = operator.get(f"/api/listings/{listing_id}/changes").json()["listing"]
    assert resumed["status"] == "announced" and _at(resumed["announcement_end"]) > _at(restarted["announcement_end"])
    for page in (owner, op_page):
        await page.context.close()
