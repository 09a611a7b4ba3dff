from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from exchange.clock import FixedClock
from tests.integration.helpers import achievement_body, listing_body

ITEMS = [
    dict(title="高镍三元正极材料单晶化制备技术", title_en="Single-crystal nickel-rich cathode", field="new_energy",
         kind="patent", funding_source="public", ip_identifiers=["ZL202010765432.8"], price=6_000_000_00,
         summary="两段烧结获得单晶正极。"),
    dict(title="耐盐碱水稻新品种", title_en="Salt-tolerant Rice Variety", field="modern_agriculture",
         kind="licence", funding_source="public", ip_identifiers=["CNA20221234.5"], price=3_200_000_00,
         summary="盐碱地亩产超过 550 公斤。"),
    dict(title="工业视觉缺陷检测软件", title_en="Visual defect inspection software", field="information_technology",
         kind="software", funding_source="non_public", ip_identifiers=["2023SR0456789"], price=800_000_00,
         summary="在线检测，节拍小于 80 毫秒。"),
]


@pytest.fixture
async def catalogue(client: httpx.AsyncClient, parties: dict[str, Any], clock: FixedClock) -> list[dict[str, Any]]:
    listings = []
    for item in ITEMS:
        overrides = {k: v for k, v in item.items() if k != "price"}
        if item["funding_source"] == "non_public":
            overrides["programme"] = ""
        achievement = (await client.post("/api/achievements", json=achievement_body(**overrides, appraised_value=None),
                                         headers=parties["inst"]["headers"])).json()
        listing = (await client.post("/api/listings", json=listing_body(achievement["id"], listing_price=item["price"]),
                                     headers=parties["inst"]["headers"])).json()
        await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"},
                          headers=parties["operator"]["headers"])
        clock.advance(timedelta(hours=1))
        listings.append(listing)
    return listings


async def titles(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/catalogue", params=params)
    assert response.status_code == 200, response.text
    return [item["title_en"] for item in response.json()["items"]]


async def test_search_finds_a_chinese_substring(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    assert await titles(client, q="正极") == ["Single-crystal nickel-rich cathode"]
    assert await titles(client, q="水稻") == ["Salt-tolerant Rice Variety"]


async def test_search_is_case_insensitive_in_english(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    assert await titles(client, q="RICE variety") == ["Salt-tolerant Rice Variety"]


async def test_search_finds_patent_numbers_and_institutions(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    assert await titles(client, q="ZL202010765432") == ["Single-crystal nickel-rich cathode"]
    assert len(await titles(client, q="tto@north")) == 0
    assert len(await titles(client, q="北方大学")) == 3


async def test_search_treats_wildcards_literally(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    assert await titles(client, q="%") == []
    assert await titles(client, q="_") == []


async def test_filters_by_field_type_funding_and_price(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    assert await titles(client, field="modern_agriculture") == ["Salt-tolerant Rice Variety"]
    assert await titles(client, kind="software") == ["Visual defect inspection software"]
    assert await titles(client, funding_source="non_public") == ["Visual defect inspection software"]
    assert await titles(client, min_price=1_000_000_00, max_price=5_000_000_00) == ["Salt-tolerant Rice Variety"]


async def test_newest_announcement_first_and_pages(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    first = (await client.get("/api/catalogue", params={"page_size": 2})).json()
    second = (await client.get("/api/catalogue", params={"page_size": 2, "page": 2})).json()
    assert first["total"] == 3
    assert [i["title_en"] for i in first["items"] + second["items"]] == [
        "Visual defect inspection software", "Salt-tolerant Rice Variety", "Single-crystal nickel-rich cathode"]


async def test_status_filter_follows_the_announcement_period(
    client: httpx.AsyncClient, catalogue: list[Any], clock: FixedClock
) -> None:
    assert len(await titles(client, status="announcing")) == 3
    clock.advance(timedelta(days=60))
    assert await titles(client, status="announcing") == []
    assert len(await titles(client, status="ended")) == 3


@pytest.mark.parametrize("params", [
    {"field": "astrology"}, {"kind": "x"}, {"status": "sold"}, {"min_price": -1},
    {"min_price": 500, "max_price": 100}, {"page": 0}, {"page_size": 1000}, {"q": "<script>"},
])
async def test_bad_filters_are_problems(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/api/catalogue", params=params)
    assert response.status_code in (400, 422)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_catalogue_page_searches_and_links_to_the_listing(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    page = await client.get("/", params={"q": "正极"})
    assert page.status_code == 200
    assert "高镍三元正极材料单晶化制备技术" in page.text
    assert f'href="/listings/{catalogue[0]["id"]}"' in page.text
    assert "耐盐碱水稻新品种" not in page.text


async def test_pages_switch_language(client: httpx.AsyncClient, catalogue: list[Any]) -> None:
    english = await client.get("/", params={"lang": "en"})
    assert "Technology Transfer Exchange" in english.text and "Salt-tolerant Rice Variety" in english.text
    again = await client.get("/")
    assert "Technology Transfer Exchange" in again.text, "the choice is remembered in a cookie"
    chinese = await client.get("/", params={"lang": "zh"})
    assert "科技成果交易所" in chinese.text and "耐盐碱水稻新品种" in chinese.text


async def test_bad_price_filter_on_the_page_is_a_readable_error(client: httpx.AsyncClient) -> None:
    page = await client.get("/", params={"min_price": "abc"})
    assert page.status_code == 422
    assert 'class="errors"' in page.text
