"""Every forbidden cell of the role matrix answers 401/403/404 and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from exchange.services import Services
from tests.integration.helpers import achievement_body, listing_body


async def _snapshot(services: Services) -> tuple[Any, ...]:
    async with services.pool.acquire() as conn:
        return tuple([
            await conn.fetchval(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t")
            for table in ("accounts", "achievements", "listings", "listing_reviews")
        ])


@pytest.fixture
async def world(client: httpx.AsyncClient, parties: dict[str, Any]) -> dict[str, Any]:
    inst = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    submitted = (await client.post("/api/listings", json=listing_body(achievement["id"]), headers=inst)).json()
    second = (await client.post("/api/achievements", json=achievement_body(title="第二项成果"), headers=inst)).json()
    announced = (await client.post("/api/listings", json=listing_body(second["id"]), headers=inst)).json()
    await client.post(f"/api/listings/{announced['id']}/review", json={"decision": "approve"},
                      headers=parties["operator"]["headers"])
    return {"achievement": achievement, "submitted": submitted, "announced": announced, "parties": parties}


CASES = [
    # (who, method, path template, body builder, expected status)
    ("anonymous", "POST", "/api/achievements", lambda w: achievement_body(), 401),
    ("investor", "POST", "/api/achievements", lambda w: achievement_body(), 403),
    ("operator", "POST", "/api/achievements", lambda w: achievement_body(), 403),
    ("other_inst", "GET", "/api/achievements/{achievement}", None, 404),
    ("other_inst", "PUT", "/api/achievements/{achievement}", lambda w: achievement_body(title="占用"), 404),
    ("investor", "GET", "/api/achievements/{achievement}", None, 403),
    ("anonymous", "GET", "/api/achievements", None, 401),
    ("other_inst", "POST", "/api/listings", lambda w: listing_body(w["achievement"]["id"]), 404),
    ("investor", "POST", "/api/listings", lambda w: listing_body(w["achievement"]["id"]), 403),
    ("anonymous", "GET", "/api/listings/{submitted}", None, 404),
    ("investor", "GET", "/api/listings/{submitted}", None, 404),
    ("other_inst", "GET", "/api/listings/{submitted}", None, 404),
    ("other_inst", "PUT", "/api/listings/{submitted}", lambda w: listing_body(w["achievement"]["id"]), 404),
    ("other_inst", "POST", "/api/listings/{submitted}/withdraw", None, 404),
    ("investor", "POST", "/api/listings/{submitted}/withdraw", None, 403),
    ("inst", "POST", "/api/listings/{submitted}/review", lambda w: {"decision": "approve"}, 403),
    ("investor", "POST", "/api/listings/{submitted}/review", lambda w: {"decision": "approve"}, 403),
    ("anonymous", "POST", "/api/listings/{submitted}/review", lambda w: {"decision": "approve"}, 401),
    ("inst", "GET", "/api/review/listings", None, 403),
    ("investor", "GET", "/api/review/listings", None, 403),
    ("anonymous", "GET", "/api/review/listings", None, 401),
    ("anonymous", "GET", "/api/tokens", None, 401),
    ("other_inst", "DELETE", "/api/tokens/1", None, 404),
]


@pytest.mark.parametrize(("who", "method", "path", "body", "expected"), CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
async def test_forbidden_cell_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, services: Services, world: dict[str, Any],
    who: str, method: str, path: str, body: Any, expected: int,
) -> None:
    headers = {} if who == "anonymous" else world["parties"][who]["headers"]
    url = path.format(achievement=world["achievement"]["id"], submitted=world["submitted"]["id"])
    before = await _snapshot(services)
    response = await client.request(method, url, json=body(world) if body else None, headers=headers)
    assert response.status_code == expected, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _snapshot(services) == before


async def test_announced_listing_is_public(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    response = await client.get(f"/api/listings/{world['announced']['id']}")
    assert response.status_code == 200


async def test_review_history_is_not_shown_to_the_public(client: httpx.AsyncClient, world: dict[str, Any]) -> None:
    response = await client.get(f"/api/listings/{world['announced']['id']}/reviews")
    assert response.json() == []


@pytest.mark.parametrize(("who", "path", "expected"), [
    ("anonymous", "/review", 303),
    ("inst", "/review", 403),
    ("investor", "/review", 403),
    ("investor", "/achievements/new", 403),
    ("other_inst", "/achievements/{achievement}", 404),
    ("other_inst", "/listings/{submitted}", 404),
    ("operator", "/review", 200),
])
async def test_pages_enforce_the_same_roles(
    client: httpx.AsyncClient, world: dict[str, Any], who: str, path: str, expected: int
) -> None:
    headers = {} if who == "anonymous" else world["parties"][who]["headers"]
    url = path.format(achievement=world["achievement"]["id"], submitted=world["submitted"]["id"])
    response = await client.get(url, headers=headers, follow_redirects=False)
    assert response.status_code == expected
    if expected in (403, 404):
        assert "text/html" in response.headers["content-type"]
