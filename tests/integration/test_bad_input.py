"""Bad input gets a problem-details error (or a readable form error) and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from exchange.services import Services
from tests.integration.helpers import achievement_body, csrf_from, listing_body
from web.app import create_app


async def _rows(services: Services) -> tuple[int, int]:
    async with services.pool.acquire() as conn:
        return (await conn.fetchval("SELECT count(*) FROM achievements"),
                await conn.fetchval("SELECT count(*) FROM listings"))


BAD_ACHIEVEMENTS = {
    "oversized title": achievement_body(title="专" * 201),
    "oversized summary": achievement_body(summary="x" * 5001),
    "script in title": achievement_body(title="<script>alert(1)</script>"),
    "html in summary": achievement_body(summary='good <img src=x onerror="steal()">'),
    "javascript url": achievement_body(programme="javascript:alert(1)"),
    "unknown kind": achievement_body(kind="trade_secret_plus"),
    "unknown field": achievement_body(field="astrology"),
    "negative appraisal": achievement_body(appraised_value=-1),
    "zero appraisal": achievement_body(appraised_value=0),
    "absurd appraisal": achievement_body(appraised_value=10**16),
    "appraisal beyond 2^63": achievement_body(appraised_value=2**63),
    "float appraisal": achievement_body(appraised_value=1000.5),
    "unknown currency": achievement_body(currency="BTC"),
    "unexpected property": achievement_body(is_admin=True),
    "public funds without programme": achievement_body(programme=""),
    "too many inventors": achievement_body(inventors=[f"发明人{i}" for i in range(51)]),
    "control characters": achievement_body(title="名称\u0000"),
    "bad document hash": achievement_body(documents=[{"title": "x", "kind": "other", "sha256": "abc"}]),
}


@pytest.mark.parametrize("body", BAD_ACHIEVEMENTS.values(), ids=BAD_ACHIEVEMENTS.keys())
async def test_bad_achievement_is_refused_with_problem_details(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any], body: dict[str, Any]
) -> None:
    response = await client.post("/api/achievements", json=body, headers=parties["inst"]["headers"])
    assert response.status_code in (400, 422), response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["status"] == response.status_code and problem["title"] and problem["detail"]
    assert await _rows(services) == (0, 0)


async def test_malformed_json_is_a_problem_not_a_crash(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any]
) -> None:
    response = await client.post("/api/achievements", content=b'{"title": "unterminated',
                                 headers=parties["inst"]["headers"] | {"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _rows(services) == (0, 0)


async def test_oversized_body_is_refused(client: httpx.AsyncClient, services: Services, parties: dict[str, Any]) -> None:
    response = await client.post("/api/achievements", json=achievement_body(summary="x" * 2_000_000),
                                  headers=parties["inst"]["headers"])
    assert response.status_code == 413
    assert await _rows(services) == (0, 0)


@pytest.fixture
async def achievement_id(client: httpx.AsyncClient, parties: dict[str, Any]) -> int:
    response = await client.post("/api/achievements", json=achievement_body(appraised_value=100_000_00),
                                 headers=parties["inst"]["headers"])
    value: int = response.json()["id"]
    return value


BAD_LISTINGS = {
    "negative price": {"listing_price": -100},
    "zero price": {"listing_price": 0},
    "absurd price": {"listing_price": 10**17},
    "price below appraisal": {"listing_price": 99_999_99},
    "deposit above price": {"deposit": 200_000_00},
    "negative deposit": {"deposit": -1},
    "announcement shorter than 20 working days": {"announcement_working_days": 19},
    "unknown method": {"competitive_method": "lottery"},
    "unknown transfer mode": {"transfer_mode": "gift"},
    "empty terms": {"terms": "   "},
    "markup in conditions": {"bidder_conditions": "<b>only us</b>"},
    "boolean price": {"listing_price": True},
}


@pytest.mark.parametrize("override", BAD_LISTINGS.values(), ids=BAD_LISTINGS.keys())
async def test_bad_listing_is_refused_with_problem_details(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any], achievement_id: int,
    override: dict[str, Any],
) -> None:
    response = await client.post("/api/listings", json=listing_body(achievement_id, **override),
                                 headers=parties["inst"]["headers"])
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _rows(services) == (1, 0)


async def test_form_with_markup_shows_a_readable_error_and_stores_nothing(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any]
) -> None:
    headers = parties["inst"]["headers"]
    page = await client.get("/achievements/new", headers=headers)
    form = {
        "_csrf": csrf_from(page.text), "title": "<script>alert('x')</script>", "summary": "摘要",
        "field": "new_energy", "kind": "patent", "funding_source": "non_public", "maturity": "lab",
        "currency": "CNY", "appraised_value": "-5",
    }
    response = await client.post("/achievements/new", data=form, headers=headers)
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;" in response.text
    assert 'class="errors"' in response.text
    assert await _rows(services) == (0, 0)


async def test_text_is_escaped_on_every_page(client: httpx.AsyncClient, parties: dict[str, Any]) -> None:
    headers = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", headers=headers, json=achievement_body(
        title='R&D "quoted" 5 < 6 > 4', summary="a & b 'single' \"double\""))).json()
    listing = (await client.post("/api/listings", headers=headers, json=listing_body(achievement["id"]))).json()
    await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"},
                      headers=parties["operator"]["headers"])
    for path in (f"/listings/{listing['id']}", "/?q=R%26D", f"/achievements/{achievement['id']}"):
        page = await client.get(path, headers=headers)
        assert page.status_code == 200, path
        assert "R&amp;D &#34;quoted&#34; 5 &lt; 6 &gt; 4" in page.text, path
        assert 'R&D "quoted"' not in page.text, path


BEYOND_ANY_ID = str(2**63)


def _routes(app: Litestar) -> list[tuple[str, str]]:
    """(method, path pattern) of every API route."""
    return [(method, route.path) for route in app.routes
            if isinstance(route, HTTPRoute) and route.path.startswith("/api/")
            for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"})]


def _routes_with_a_body(app: Litestar) -> list[tuple[str, str]]:
    """(method, path pattern) of every API route whose handler reads a request body."""
    return [(method, route.path) for route in app.routes
            if isinstance(route, HTTPRoute) and route.path.startswith("/api/")
            for handler in route.route_handlers if "data" in handler.parsed_fn_signature.parameters
            for method in sorted(set(handler.http_methods) - {"HEAD", "OPTIONS"})]


def _fill(path: str, number: str, text: str) -> str:
    return re.sub(r"\{(\w+):(\w+)\}", lambda m: number if m.group(2) == "int" else text, path)


@pytest.fixture
def routes(services: Services) -> list[tuple[str, str]]:
    return _routes(create_app(services))


async def test_ids_beyond_any_bigint_are_a_4xx_on_every_route(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any], routes: list[tuple[str, str]],
) -> None:
    tried = []
    for method, pattern in routes:
        if ":int}" not in pattern:
            continue
        path = _fill(pattern, BEYOND_ANY_ID, "x")
        answer = await client.request(method, path, json={}, headers=parties["operator"]["headers"])
        tried.append(pattern)
        assert 400 <= answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text[:200]}"
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert len(tried) >= 17


@pytest.mark.parametrize("query", ["after=" + BEYOND_ANY_ID, "procedure=%00", "status=%00", "kind=%00", "q=%00",
                                   "limit=" + BEYOND_ANY_ID, "offset=" + BEYOND_ANY_ID])
async def test_nul_characters_and_huge_numbers_in_a_query_are_a_4xx_on_every_list(
    client: httpx.AsyncClient, parties: dict[str, Any], routes: list[tuple[str, str]], query: str,
) -> None:
    for method, pattern in routes:
        if method != "GET":
            continue
        path = _fill(pattern, "1", "x") + "?" + query
        answer = await client.get(path, headers=parties["operator"]["headers"])
        assert answer.status_code < 500, f"GET {path}: {answer.status_code} {answer.text[:200]}"


async def test_nul_characters_in_the_address_and_in_json_bodies_are_a_4xx(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any], routes: list[tuple[str, str]],
) -> None:
    for method, pattern in routes:
        if ":str}" in pattern:
            answer = await client.request(method, _fill(pattern, "1", "a%00b"), json={},
                                          headers=parties["operator"]["headers"])
            assert 400 <= answer.status_code < 500, f"{method} {pattern}: {answer.status_code}"
    for body, url in [({"email": "vc\u0000@capital.test", "password": "x" * 12}, "/api/session"),
                      ({"email": "vc\u0000@capital.test", "password": "x" * 12, "name": "n"}, "/api/tokens")]:
        answer = await client.post(url, json=body)
        assert answer.status_code in (401, 422), answer.text
    assert await _rows(services) == (0, 0)


async def test_json_nested_a_hundred_thousand_deep_is_a_400_on_every_json_route(
    client: httpx.AsyncClient, services: Services, parties: dict[str, Any],
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    routes = _routes_with_a_body(create_app(services))
    assert ("POST", "/api/accounts") in routes and ("POST", "/api/accounts/{account_id:int}/login-limits/reset") not in routes
    for method, pattern in routes:
        answer = await client.request(method, _fill(pattern, "1", "x"), content=deep,
                                      headers=parties["operator"]["headers"] | {"content-type": "application/json"})
        assert 400 <= answer.status_code < 500, f"{method} {pattern}: {answer.status_code} {answer.text[:200]}"
    assert await _rows(services) == (0, 0)


@pytest.mark.parametrize("odd", ["%C2%B3", "%D9%A3", "%09", "%20", "%EF%BC%91"])  # ³, Arabic-Indic 3, tab, space, fullwidth 1
async def test_odd_digits_and_blank_text_in_the_address_or_query_are_never_a_500(
    client: httpx.AsyncClient, parties: dict[str, Any], routes: list[tuple[str, str]], odd: str,
) -> None:
    """Found by fuzzing the OpenAPI document: '³' passed str.isdigit() but not int(), and a
    procedure reference of blank text failed an assertion."""
    for method, pattern in routes:
        for path in {_fill(pattern, "1", odd), _fill(pattern, odd, odd)}:
            answer = await client.request(method, f"{path}?status={odd}&after={odd}", json={},
                                          headers=parties["operator"]["headers"])
            assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text[:200]}"
