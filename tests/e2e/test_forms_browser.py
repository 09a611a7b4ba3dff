"""Forms show only the fields that apply, and the keyboard reaches the content first."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import logged_in

pytestmark = pytest.mark.e2e

INSTITUTION = ("tto@beichen.demo", "demo-pass-2026")


async def test_the_price_weight_is_asked_only_for_a_weighted_quote(browser: Browser, live_server: str) -> None:
    page = await logged_in(browser, live_server, *INSTITUTION, then="/listings/new")
    weight = page.locator("#price_weight")
    await page.select_option("#competitive_method", "english_auction")
    await expect(weight).to_be_hidden()
    await expect(page.locator('label[for="price_weight"]')).to_be_hidden()
    await page.select_option("#competitive_method", "weighted_quote")
    await expect(weight).to_be_visible()
    await expect(weight).to_have_value("60")
    await page.select_option("#competitive_method", "sealed_quote")
    await expect(weight).to_be_hidden()
    await page.context.close()


async def test_the_first_tab_offers_to_skip_to_the_content(browser: Browser, live_server: str) -> None:
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()
    await page.goto(f"{live_server}/?lang=en")
    skip = page.locator(".skip-link")
    assert (await skip.bounding_box() or {"y": 0})["y"] < 0, "out of sight until the keyboard reaches it"
    await page.keyboard.press("Tab")
    await expect(skip).to_be_focused()
    await expect(skip).to_have_text("Skip to content")
    assert (await skip.bounding_box() or {"y": -1})["y"] >= 0
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    await context.close()
