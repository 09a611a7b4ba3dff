"""The whole foundation path through the pages a person uses, with forms and CSRF tokens."""

from __future__ import annotations

import re

import httpx

from exchange.accounts.types import Registration
from exchange.services import Services
from tests.integration.helpers import PASSWORD, csrf_from


async def _post_form(client: httpx.AsyncClient, page_path: str, action: str, form: dict[str, str]) -> httpx.Response:
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data=form | {"_csrf": csrf_from(page.text)}, follow_redirects=False)


async def test_institution_lists_an_achievement_and_the_operator_announces_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    await services.accounts.register(
        Registration(role="operator", email="op@exchange.test", password=PASSWORD, display_name="运营部"),
        allow_operator=True,
    )
    registered = await _post_form(client, "/register", "/register", {
        "role": "institution", "email": "tto@north.test", "password": PASSWORD, "display_name": "北方大学"})
    assert registered.status_code == 303

    created = await _post_form(client, "/achievements/new", "/achievements/new", {
        "title": "一种固态电解质及其制备方法", "title_en": "A solid electrolyte and its preparation",
        "summary": "室温离子电导率达 10 mS/cm。", "field": "new_energy", "kind": "patent",
        "funding_source": "public", "programme": "国家自然科学基金", "maturity": "lab",
        "appraised_value": "1,000,000", "currency": "CNY", "ip_identifiers": "ZL202410000001.2\nZL202410000002.0",
        "inventors": "王一\n赵二", "documents": "专利证书 | patent_certificate | 3",
    })
    assert created.status_code == 303
    achievement_id = int(created.headers["location"].rsplit("/", 1)[1])

    too_cheap = await _post_form(client, f"/listings/new?achievement={achievement_id}", "/listings/new", {
        "achievement_id": str(achievement_id), "listing_price": "999999.99", "terms": "一次性付款",
        "bidder_conditions": "企业法人", "transfer_mode": "assignment", "competitive_method": "english_auction",
        "announcement_working_days": "20"})
    assert too_cheap.status_code == 422
    assert "appraised value" in too_cheap.text

    submitted = await _post_form(client, f"/listings/new?achievement={achievement_id}", "/listings/new", {
        "achievement_id": str(achievement_id), "listing_price": "1200000", "terms": "一次性付款",
        "bidder_conditions": "企业法人", "transfer_mode": "assignment", "competitive_method": "english_auction",
        "announcement_working_days": "20"})
    assert submitted.status_code == 303
    listing_path = submitted.headers["location"]
    listing_id = int(listing_path.rsplit("/", 1)[1])
    own = await client.get(listing_path)
    assert "待审核" in own.text and "¥1,200,000.00" in own.text and "¥120,000.00" in own.text

    await _post_form(client, "/account", "/logout", {})
    assert (await client.get(listing_path)).status_code == 404

    login = await _post_form(client, "/login", "/login", {"email": "op@exchange.test", "password": PASSWORD,
                                                          "next": "/review"})
    assert login.headers["location"] == "/review"
    queue = await client.get("/review")
    assert "一种固态电解质及其制备方法" in queue.text
    item = await client.get(f"/review/{listing_id}")
    assert re.search(r"2026-03-31 00:00", item.text), "the preview shows the announcement end"
    unconfirmed = await client.post(f"/review/{listing_id}", data={"decision": "approve", "_csrf": csrf_from(item.text)})
    assert unconfirmed.status_code == 422 and "请勾选确认后再批准" in unconfirmed.text
    assert "一种固态电解质及其制备方法" in (await client.get("/review")).text, "still waiting: nothing published"
    decided = await client.post(f"/review/{listing_id}", data={
        "decision": "approve", "confirm_publish": "yes", "_csrf": csrf_from(unconfirmed.text)}, follow_redirects=True)
    assert decided.status_code == 200 and "TT2026000001: 批准" in decided.text

    await _post_form(client, "/review", "/logout", {})
    public = await client.get(listing_path)
    assert public.status_code == 200
    assert "2026-03-02 10:00 至 2026-03-31 00:00" in public.text
    catalogue = await client.get("/", params={"q": "固态电解质"})
    assert f'href="{listing_path}"' in catalogue.text


async def test_login_page_shows_a_readable_error_for_a_wrong_password(client: httpx.AsyncClient) -> None:
    response = await _post_form(client, "/login", "/login", {"email": "nobody@x.test", "password": "whatever123"})
    assert response.status_code == 401
    assert "wrong e-mail address or password" in response.text


async def test_unknown_page_is_a_readable_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"] and "404" in response.text


async def test_api_tokens_page_creates_and_revokes(client: httpx.AsyncClient) -> None:
    await _post_form(client, "/register", "/register", {
        "role": "investor", "email": "vc@capital.test", "password": PASSWORD, "display_name": "启明资本"})
    created = await _post_form(client, "/account/tokens", "/account/tokens", {"name": "交易机器人"})
    token = re.search(r'id="new-token">([^<]+)<', created.text)
    assert created.status_code == 201 and token
    fresh = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")  # no cookies
    assert (await fresh.get("/api/me", headers={"Authorization": f"Bearer {token.group(1)}"})).status_code == 200
    page = await client.get("/account/tokens")
    token_id = re.search(r'/account/tokens/(\d+)/revoke', page.text)
    assert token_id
    await client.post(f"/account/tokens/{token_id.group(1)}/revoke", data={"_csrf": csrf_from(page.text)})
    assert (await fresh.get("/api/me", headers={"Authorization": f"Bearer {token.group(1)}"})).status_code == 401


