from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from argon2 import PasswordHasher

from exchange.accounts.passwords import PasswordHashing
from exchange.accounts.service import LoginLimits
from exchange.services import Services
from tests.integration.helpers import PASSWORD, achievement_body, csrf_from, register, token_for
from web.proxies import TrustedProxies


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


class WatchedHasher:
    """argon2 as the service uses it, counting the checks and able to hold them."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.checks = 0
        self.gate = threading.Event()
        self.gate.set()

    def hash(self, password: str) -> str:
        return self.real.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        self.checks += 1
        self.gate.wait(10)
        return bool(self.real.verify(stored, password))

    def check_needs_rehash(self, stored: str) -> bool:
        return bool(self.real.check_needs_rehash(stored))


def watched(services: Services, *, queue: int = 16) -> WatchedHasher:
    hasher = WatchedHasher(services.accounts.passwords.hasher)
    services.accounts.passwords = PasswordHashing(hasher, workers=1, queue=queue)  # type: ignore[arg-type]
    return hasher


async def test_correct_logins_are_limited_per_account_before_any_password_check(
    client: httpx.AsyncClient, services: Services,
) -> None:
    await register(client, "investor", "vc@capital.test")
    services.accounts.limits = LoginLimits(per_account=3, per_address=600)
    hasher = watched(services)
    for _ in range(3):
        ok = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
        assert ok.status_code == 200
        client.cookies.clear()
    limited = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert hasher.checks == 3, "the fourth login cost no password check"


async def test_correct_logins_are_limited_per_address_across_accounts(
    client: httpx.AsyncClient, services: Services,
) -> None:
    for n in range(3):
        await register(client, "investor", f"vc{n}@capital.test")
    services.accounts.limits = LoginLimits(per_account=30, per_address=2)
    answers = []
    for n in range(3):
        answers.append((await client.post("/api/session", json={"email": f"vc{n}@capital.test",
                                                                 "password": PASSWORD})).status_code)
        client.cookies.clear()
    assert answers == [200, 200, 429]


async def test_a_full_password_queue_answers_503_at_once_and_the_next_login_works(
    client: httpx.AsyncClient, services: Services,
) -> None:
    await register(client, "investor", "vc@capital.test")
    hasher = watched(services, queue=0)
    hasher.gate.clear()
    try:
        async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as other:
            first = asyncio.create_task(client.post("/api/session", json={"email": "vc@capital.test",
                                                                          "password": PASSWORD}))
            await asyncio.sleep(0.2)  # the only hashing thread is busy with it
            busy = await other.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "try again" in busy.json()["detail"] and hasher.checks == 1
            hasher.gate.set()
            assert (await first).status_code == 200
            again = await other.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
            assert again.status_code == 200
    finally:
        hasher.gate.set()


async def test_concurrent_wrong_passwords_are_checked_no_more_than_the_limit(
    client: httpx.AsyncClient, services: Services,
) -> None:
    await register(client, "investor", "vc@capital.test")
    hasher = watched(services, queue=100)
    answers = await asyncio.gather(*(client.post("/api/session", json={
        "email": "vc@capital.test", "password": "wrong password!"}) for _ in range(40)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [401] * 5 + [429] * 35 and hasher.checks == 5


async def test_concurrent_wrong_passwords_from_one_address_stop_at_its_limit(
    client: httpx.AsyncClient, services: Services,
) -> None:
    hasher = watched(services, queue=100)
    answers = await asyncio.gather(*(client.post("/api/session", json={
        "email": f"nobody{n}@capital.test", "password": "wrong password!"}) for n in range(45)))
    assert sorted(a.status_code for a in answers) == [401] * 30 + [429] * 15
    assert hasher.checks == 0, "unknown addresses cost a hash, never a check against a stored one"


async def test_a_login_refused_for_a_full_queue_does_not_count_as_a_wrong_password(
    client: httpx.AsyncClient, services: Services,
) -> None:
    await register(client, "investor", "vc@capital.test")
    hasher = watched(services, queue=0)
    hasher.gate.clear()
    try:
        held = asyncio.create_task(client.post("/api/session", json={"email": "vc@capital.test",
                                                                     "password": "wrong password!"}))
        await asyncio.sleep(0.2)
        async with httpx.AsyncClient(transport=client._transport, base_url="http://testserver") as other:
            busy = [await other.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
                    for _ in range(8)]
        assert {b.status_code for b in busy} == {503}
    finally:
        hasher.gate.set()
    assert (await held).status_code == 401
    ok = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
    assert ok.status_code == 200, "eight refusals for a busy queue did not lock the owner out"


async def test_wrong_passwords_slow_the_next_attempt_but_never_lock_the_owner_out(client: httpx.AsyncClient) -> None:
    await register(client, "investor", "vc@capital.test")
    for _ in range(5):
        assert (await client.post("/api/session", json={"email": "vc@capital.test",
                                                         "password": "wrong password!"})).status_code == 401
    slowed = await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})
    assert slowed.status_code == 429 and slowed.headers["retry-after"] == "1"
    await asyncio.sleep(1.1)
    assert (await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})).status_code == 200
    client.cookies.clear()
    for _ in range(5):  # a right password forgets the wrong ones before it: five more are checked at once
        assert (await client.post("/api/session", json={"email": "vc@capital.test",
                                                         "password": "wrong password!"})).status_code == 401


async def test_the_wait_doubles_with_each_further_wrong_password(client: httpx.AsyncClient) -> None:
    await register(client, "investor", "vc@capital.test")
    waits = []
    for _ in range(8):
        answer = await client.post("/api/session", json={"email": "vc@capital.test", "password": "wrong password!"})
        if answer.status_code == 429:
            waits.append(int(answer.headers["retry-after"]))
            await asyncio.sleep(waits[-1] + 0.05)
            answer = await client.post("/api/session", json={"email": "vc@capital.test", "password": "wrong password!"})
        assert answer.status_code == 401
    assert waits == [1, 2, 4]


async def test_behind_a_trusted_proxy_wrong_passwords_count_against_the_client_it_names(
    client: httpx.AsyncClient, services: Services,
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    for n in range(31):
        await register(client, "investor", f"vc{n}@capital.test")

    async def wrong(n: int, forwarded: str) -> int:
        answer = await client.post("/api/session", json={"email": f"vc{n}@capital.test", "password": "wrong password!"},
                                   headers={"X-Forwarded-For": forwarded})
        return answer.status_code

    app.state.trusted_proxies = TrustedProxies.from_env({"EXCHANGE_TRUSTED_PROXIES": "203.0.113.0/24"})
    assert [await wrong(n, "198.51.100.1") for n in range(31)] == [401] * 30 + [429]
    assert await wrong(30, "198.51.100.2, 203.0.113.9") == 401, "another client behind the same proxy is not locked out"
    app.state.trusted_proxies = TrustedProxies()  # untrusted: the header is ignored, the proxy is the client
    assert await wrong(30, "198.51.100.3") == 401
    assert await wrong(30, "198.51.100.4") == 401


async def test_an_operator_lets_an_owner_log_in_again_at_once(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any],
) -> None:
    account = await services.accounts.by_email("vc@capital.test")
    for _ in range(5):
        await client.post("/api/session", json={"email": "vc@capital.test", "password": "wrong password!"})
    client.cookies.clear()
    assert (await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})).status_code == 429
    url = f"/api/accounts/{account.id}/login-limits/reset"
    assert (await client.post(url, headers=parties["investor"]["headers"])).status_code == 403
    assert (await client.post(url, headers=parties["operator"]["headers"])).status_code == 204
    assert (await client.post("/api/session", json={"email": "vc@capital.test", "password": PASSWORD})).status_code == 200
