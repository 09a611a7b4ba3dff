"""Small builders the integration tests share: accounts, sessions, valid inputs."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx

PASSWORD = "correct horse battery"


def achievement_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "一种锂电池正极材料的制备方法",
        "title_en": "Preparation of a lithium battery cathode material",
        "summary": "单晶高镍正极，循环寿命提升 30%。",
        "field": "new_energy",
        "kind": "patent",
        "funding_source": "public",
        "programme": "国家重点研发计划",
        "maturity": "pilot",
        "ip_identifiers": ["ZL202310000001.1"],
        "inventors": ["张三", "李四"],
        "appraised_value": 100_000_00,
        "documents": [{"title": "评估报告", "kind": "appraisal_report", "pages": 30}],
    }
    return body | overrides


def listing_body(achievement_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "achievement_id": achievement_id,
        "listing_price": 120_000_00,
        "terms": "合同签订后 10 个工作日内付清。",
        "bidder_conditions": "依法设立的企业法人。",
    }
    return body | overrides


async def register(client: httpx.AsyncClient, role: str, email: str, name: str = "") -> dict[str, Any]:
    response = await client.post("/api/accounts", json={
        "role": role, "email": email, "password": PASSWORD, "display_name": name or email.split("@")[0],
    })
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def token_for(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post("/api/tokens", json={"email": email, "password": password, "name": "tests"})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def csrf_from(html: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
