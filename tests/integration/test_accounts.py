from __future__ import annotations

import httpx

from exchange.services import Services
from tests.integration.helpers import PASSWORD, achievement_body, csrf_from, register, token_for


async def count(services: Services, table: str) -> int:
    async with services.pool.acquire() as conn:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return value


async def test_registration_stores_an_argon2_hash_never_the_password(client: httpx.AsyncClient, services: Services) -> None:
    account = await register(client, "institution", "tto@north.test", "北方大学")
    assert account["role"] == "institution" and account["display_name"] == "北方大学"
    async with services.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM accounts WHERE id = $1", account["id"])
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_registering_the_same_email_twice_is_a_conflict_that_changes_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    await register(client, "investor", "vc@capital.test")
    response = await client.post("/api/accounts", json={
        "role": "investor", "email": "VC@Capital.test", "password": PASSWORD, "display_name": "again"})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await count(services, "accounts") == 1


async def test_nobody_registers_as_operator_through_the_api(client: httpx.AsyncClient, services: Services) -> None:
    response = await client.post("/api/accounts", json={
        "role": "operator", "email": "me@evil.test", "password": PASSWORD, "display_name": "me"})
    assert response.status_code == 422
    assert "role" in response.json()["errors"]
    assert await count(services, "accounts") == 0


async def test_login_sets_a_session_cookie_and_me_reports_the_account(client: httpx.AsyncClient) -> None:
    await register(client, "investor", "vc@capital.test")
    response = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
    assert response.status_code == 200
    assert "tex_session" in response.cookies
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["email"] == "vc@capital.test"
    assert (await client.delete("/api/session", headers={"X-CSRF-Token": response.json()["csrf_token"]})).status_code == 204
    assert (await client.get("/api/me")).status_code == 401


async def test_wrong_password_is_refused(client: httpx.AsyncClient) -> None:
    await register(client, "investor", "vc@capital.test")
    response = await client.post("/api/session", json={"email": "vc@capital.test", "password": "wrong password!"})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong e-mail address or password"


async def test_login_is_rate_limited_after_repeated_failures_even_with_the_right_password(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "investor", "vc@capital.test")
    for _ in range(5):
        bad = await client.post("/api/session", json={"email": "vc@capital.test", "password": "wrong password!"})
        assert bad.status_code == 401
    blocked = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0


async def test_api_tokens_authenticate_until_revoked(client: httpx.AsyncClient) -> None:
    await register(client, "institution", "tto@north.test")
    headers = await token_for(client, "tto@north.test")
    assert (await client.get("/api/me", headers=headers)).status_code == 200
    tokens = (await client.get("/api/tokens", headers=headers)).json()
    assert len(tokens) == 1 and "token" not in tokens[0]
    assert (await client.delete(f"/api/tokens/{tokens[0]['id']}", headers=headers)).status_code == 204
    assert (await client.get("/api/me", headers=headers)).status_code == 401


async def test_a_made_up_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Bearer tex_not-a-real-token"})
    assert response.status_code == 401


async def test_cookie_authenticated_api_writes_need_the_csrf_header(
    client: httpx.AsyncClient, services: Services
) -> None:
    await register(client, "institution", "tto@north.test")
    login = await client.post("/api/session", json={"email": "tto@north.test", "password": PASSWORD})
    without = await client.post("/api/achievements", json=achievement_body())
    assert without.status_code == 403
    assert await count(services, "achievements") == 0
    with_header = await client.post("/api/achievements", json=achievement_body(),
                                    headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert with_header.status_code == 201
    assert await count(services, "achievements") == 1


async def test_a_form_posted_without_its_csrf_token_is_refused(client: httpx.AsyncClient, services: Services) -> None:
    page = await client.get("/register")
    token = csrf_from(page.text)
    form = {"role": "investor", "email": "vc@capital.test", "password": PASSWORD, "display_name": "VC"}
    forged = await client.post("/register", data=form)
    assert forged.status_code == 403
    assert await count(services, "accounts") == 0
    real = await client.post("/register", data=form | {"_csrf": token}, follow_redirects=False)
    assert real.status_code == 303
    assert await count(services, "accounts") == 1


async def test_login_page_logs_in_and_rotates_the_session(client: httpx.AsyncClient) -> None:
    await register(client, "investor", "vc@capital.test")
    page = await client.get("/login")
    before = client.cookies.get("tex_session")
    response = await client.post("/login", data={"email": "vc@capital.test", "password": PASSWORD,
                                                 "_csrf": csrf_from(page.text), "next": "/account"},
                                 follow_redirects=True)
    assert response.status_code == 200
    assert 'id="account-name"' in response.text
    assert client.cookies.get("tex_session") != before
