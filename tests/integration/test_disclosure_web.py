"""The notice board, the record pages, the JSON feed and OCDS releases, through the ASGI app."""

from __future__ import annotations

import re
from typing import Any

import httpx

from exchange import disclosure
from exchange.clock import FixedClock
from exchange.services import Services
from tests.integration.conftest_auctions import announced_listing
from tests.integration.disclosure_flow import PRICE, chain, engine, sold
from tests.integration.settlement_flow import Sale
from tests.ocds_schema import ocds_problems

__all__ = ["engine"]


async def _two_procedures(services: Services, clock: FixedClock) -> tuple[Sale, str, str]:
    """A sold auction on one listing (3 records) and a second announced listing (1 record)."""
    sale, _ = await sold(services, clock)
    await announced_listing(services, sale.parties.other_institution, sale.parties.operator)
    records = await chain(services)
    return sale, records[0].procedure, records[-1].procedure


def _rows(html: str) -> list[int]:
    return [int(seq) for seq in re.findall(r'<tr data-seq="(\d+)"', html)]


async def test_the_notice_board_shows_each_window_open_or_closed_and_filters_by_kind_and_procedure(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    _, first, second = await _two_procedures(engine, clock)
    assert first != second
    board = await client.get("/disclosures?lang=en")
    assert board.status_code == 200
    assert _rows(board.text) == [4, 3, 2, 1]  # newest first
    assert "Deal announcement" in board.text and "Auction notice" in board.text
    # the auction notice ran until the opening, two hours ago; the announcements are still open
    assert re.search(r'data-seq="2">.*?window-closed">Closed on \d{4}-\d\d-\d\d', board.text, re.S)
    assert re.search(r'data-seq="1">.*?window-open">Open until \d{4}-\d\d-\d\d', board.text, re.S)
    deals = await client.get("/disclosures", params={"kind": "deal_announcement", "lang": "zh"})
    assert _rows(deals.text) == [3] and "成交公告" in deals.text
    procedure = await client.get("/disclosures", params={"procedure": first.lower()})
    assert _rows(procedure.text) == [3, 2, 1]
    both = await client.get("/disclosures", params={"procedure": second, "kind": "listing_announcement"})
    assert _rows(both.text) == [4]
    assert (await client.get("/disclosures", params={"kind": "gossip"})).status_code == 422
    assert 'href="/disclosures"' in (await client.get("/")).text  # linked from the site navigation


async def test_a_record_page_shows_its_hash_its_predecessor_and_what_corrects_it(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    await _two_procedures(engine, clock)
    records = await chain(engine)
    deal = records[2]
    async with engine.pool.acquire() as conn, conn.transaction():
        fixed = await disclosure.correct(conn, deal.seq, deal.body, "the buyer's name was misspelt", clock.now())
    page = await client.get(f"/disclosures/{deal.seq}?lang=en")
    assert page.status_code == 200
    assert deal.hash in page.text and records[1].hash in page.text and 'href="/disclosures/2"' in page.text
    assert re.search(rf'id="corrected-by"><a href="/disclosures/{fixed.seq}">#{fixed.seq}</a>', page.text)
    assert str(PRICE) in page.text
    correction = await client.get(f"/disclosures/{fixed.seq}?lang=en")
    assert re.search(rf'id="corrects"><a href="/disclosures/{deal.seq}">#{deal.seq}</a>', correction.text)
    assert "misspelt" in correction.text
    assert (await client.get("/disclosures/999")).status_code == 404


async def test_the_feed_returns_the_chain_page_by_page_with_a_next_cursor(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    await _two_procedures(engine, clock)
    seen, after, pages = [], 0, 0
    while True:
        answer = await client.get("/api/disclosures", params={"after": after, "limit": 3})
        assert answer.status_code == 200
        page = answer.json()
        seen += page["records"]
        pages += 1
        if not page["more"]:
            break
        after = page["next"]
    assert [r["seq"] for r in seen] == [1, 2, 3, 4] and pages == 2
    assert all(r["prev_hash"] == p["hash"] for p, r in zip(seen, seen[1:], strict=False))
    assert seen[1]["window"] == "closed" and seen[0]["window"] == "open" and seen[2]["body"]["price"] == PRICE
    empty = (await client.get("/api/disclosures", params={"after": 4})).json()
    assert empty == {"records": [], "next": 4, "more": False}
    deals = (await client.get("/api/disclosures", params={"kind": "deal_announcement"})).json()
    assert [r["seq"] for r in deals["records"]] == [3]
    assert (await client.get("/api/disclosures", params={"limit": 0})).status_code == 422
    assert (await client.get("/api/disclosures", params={"after": -1})).status_code == 422
    one = (await client.get("/api/disclosures/3")).json()
    assert one["hash"] == seen[2]["hash"] and one["corrected_by"] == []


async def test_a_procedure_is_served_as_an_ocds_release_package(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    sale, first, _ = await _two_procedures(engine, clock)
    package = (await client.get(f"/api/disclosures/ocds/{first}")).json()
    assert ocds_problems(package) == []
    releases = package["releases"]
    assert package["version"] == "1.1" and {r["ocid"] for r in releases} == {f"ocds-tte-{first}"}
    assert [r["tag"] for r in releases] == [["planning"], ["tender"], ["award"]]
    assert [r["id"] for r in releases] == [f"ocds-tte-{first}-{n}" for n in (1, 2, 3)]
    assert releases[1]["tender"]["minValue"] == {"amount": 1_000, "currency": "CNY"}  # 100,000 fen
    award = releases[2]["awards"][0]
    assert award["value"] == {"amount": PRICE // 100, "currency": "CNY"}
    buyer = sale.parties.investors[0].display_name
    assert award["suppliers"] == [{"id": buyer, "name": buyer}]
    roles = {p["name"]: p["roles"] for p in releases[2]["parties"]}
    assert roles == {sale.parties.seller.display_name: ["procuringEntity"], buyer: ["tenderer", "supplier"]}
    assert releases[2]["disclosure"]["hash"] == (await chain(engine))[2].hash
    assert (await client.get("/api/disclosures/ocds/TT1999000001")).status_code == 404


async def test_only_an_operator_publishes_a_correction_and_it_names_the_record_it_corrects(
    services: Services, clock: FixedClock, client: httpx.AsyncClient, parties: dict[str, dict[str, Any]],
) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        original = await disclosure.publish(conn, disclosure.Notice(
            kind=disclosure.Kind.LISTING_ANNOUNCEMENT, procedure="TT2026000042", subject="TT2026000042",
            published_at=clock.now(), body={"listing_price": 100_00}))
    assert original is not None
    correction = {"body": {"listing_price": 1_000_00}, "reason": "the price lost a zero"}
    for who, status in (("investor", 403), ("inst", 403)):
        answer = await client.post("/api/disclosures/1/corrections", json=correction, headers=parties[who]["headers"])
        assert answer.status_code == status
    operator = parties["operator"]["headers"]
    assert (await client.post("/api/disclosures/1/corrections", json=correction | {"reason": " "},
                              headers=operator)).status_code == 422
    assert (await client.post("/api/disclosures/9/corrections", json=correction, headers=operator)).status_code == 404
    made = await client.post("/api/disclosures/1/corrections", json=correction, headers=operator)
    assert made.status_code == 201, made.text
    fixed = made.json()
    assert (fixed["seq"], fixed["corrects"], fixed["prev_hash"]) == (2, 1, original.hash)
    assert fixed["body"] == {"listing_price": 1_000_00, "correction_reason": "the price lost a zero"}
    assert (await client.get("/api/disclosures/1")).json()["body"] == {"listing_price": 100_00}  # unchanged
    assert (await client.get("/api/disclosures/1")).json()["corrected_by"] == [2]


async def test_a_correction_must_keep_the_records_fields_and_a_partial_one_changes_nothing(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    sale, first, _ = await _two_procedures(engine, clock)
    token = await engine.accounts.issue_token(sale.parties.operator, "corrections")
    operator = {"Authorization": f"Bearer {token.token}"}
    before = (await client.get("/api/disclosures", params={"after": 0, "limit": 200})).json()["records"]
    original = before[0]["body"]
    nested = next(k for k, v in original.items() if isinstance(v, dict) and v)
    for body in [{"note": "x"}, {k: v for k, v in original.items() if k != "terms"},
                 original | {nested: {}},
                 {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in original.items()}]:
        refused = await client.post("/api/disclosures/1/corrections", json={"body": body, "reason": "typo"},
                                    headers=operator)
        assert refused.status_code == 422 and "body" in refused.json()["errors"], refused.text
    after = (await client.get("/api/disclosures", params={"after": 0, "limit": 200})).json()["records"]
    assert after == before
    fixed = await client.post("/api/disclosures/1/corrections", headers=operator, json={
        "body": original | {"terms": original["terms"] + " (corrected)", "note": "a field may be added"},
        "reason": "typo"})
    assert fixed.status_code == 201, fixed.text
    package = await client.get(f"/api/disclosures/ocds/{first}")
    assert package.status_code == 200 and len(package.json()["releases"]) == 4


async def test_the_ocds_export_never_fails_on_a_record_it_cannot_map(
    engine: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    _, first, _ = await _two_procedures(engine, clock)
    async with engine.pool.acquire() as conn, conn.transaction():  # as a correction published before they were checked
        await disclosure.publish(conn, disclosure.Notice(
            kind=disclosure.Kind.DEAL_ANNOUNCEMENT, procedure=first, subject=f"{first}-partial",
            published_at=clock.now(), body={"note": "x", "correction_reason": "typo"}, corrects=3))
    package = await client.get(f"/api/disclosures/ocds/{first}")
    assert package.status_code == 200
    bare = package.json()["releases"][-1]
    assert bare["disclosure"]["corrects"] == 3 and bare["tag"] == ["award"] and "awards" not in bare
