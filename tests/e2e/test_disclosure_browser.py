from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

pytestmark = pytest.mark.e2e


async def test_visitor_filters_the_notice_board_and_opens_a_record_with_its_hash(
    browser: Browser, live_server: str,
) -> None:
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(live_server + "/")
    await page.get_by_role("link", name="公示栏").click()
    await expect(page.locator("h1")).to_have_text("公示栏")
    rows = page.locator("#disclosure-list tbody tr")
    await expect(page.locator("#disclosure-list")).to_contain_text("挂牌公告")  # the demo's approved listings
    await page.select_option("#kind", "auction_notice")
    await page.get_by_role("button", name="筛选").click()
    await expect(rows.first).to_contain_text("竞价公告")  # the demo's live auction (other tests may add more)
    assert set(await rows.locator("td:nth-child(2)").all_inner_texts()) == {"竞价公告"}
    await rows.last.locator("td").nth(2).get_by_role("link").click()  # its procedure: every record of the listing
    await expect(page).to_have_url(re.compile(r"/disclosures\?procedure=TT\d+$"))
    await expect(rows.last).to_contain_text("挂牌公告")  # the oldest: the listing announcement, still running
    await expect(rows.last).to_contain_text(re.compile(r"公示中，至 \d{4}-\d{2}-\d{2}"))
    await rows.filter(has_text="竞价公告").first.locator("td").first.get_by_role("link").click()
    await expect(page.locator("h1")).to_contain_text("竞价公告 #")
    await expect(page.locator("#hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    await expect(page.locator("#prev-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    await expect(page.locator("#body")).to_contain_text('"start_price"')
    await page.screenshot(path="test-results/disclosure-record-zh.png", full_page=True)
    await context.close()
