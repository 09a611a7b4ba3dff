from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

pytestmark = pytest.mark.e2e


async def test_visitor_searches_the_catalogue_in_chinese_and_opens_a_listing(browser: Browser, live_server: str) -> None:
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(live_server + "/")
    await expect(page.locator("h1")).to_have_text("科技成果交易所")
    await page.fill("#q", "正极")
    await page.press("#q", "Enter")
    await expect(page.locator("#result-count")).to_have_text("共 1 项挂牌")
    card = page.locator(".listing-card")
    await expect(card).to_have_count(1)
    await card.get_by_role("link").click()
    await expect(page.locator("#listing-title")).to_have_text("高镍三元正极材料单晶化制备技术")
    await expect(page.locator("#announcement-dates")).to_contain_text(re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} 至 \d{4}-\d{2}-\d{2} 00:00"))
    await expect(page.locator(".facts")).to_contain_text(["¥60,000,000.00"])
    await page.screenshot(path="test-results/listing-zh.png", full_page=True)
    await context.close()


async def test_visitor_switches_the_catalogue_to_english_and_filters_by_field(browser: Browser, live_server: str) -> None:
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(live_server + "/")
    await page.click("#lang-switch")
    await expect(page.locator("h1")).to_have_text("Technology Transfer Exchange")
    await page.select_option("#field", "modern_agriculture")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator(".listing-card")).to_have_count(2)
    await expect(page.locator(".listing-card").first).to_contain_text("Modern agriculture")
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Technology Transfer Exchange")
    await context.close()
