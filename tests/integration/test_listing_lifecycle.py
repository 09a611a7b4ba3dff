from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exchange.clock import FixedClock
from tests.integration.helpers import achievement_body, listing_body

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _submitted(client: httpx.AsyncClient, parties: dict[str, Any], **listing: Any) -> dict[str, Any]:
    inst = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    response = await client.post("/api/listings", json=listing_body(achievement["id"], **listing), headers=inst)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_submitted_listing_waits_in_the_operator_queue_and_is_not_public(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    listing = await _submitted(client, parties)
    assert listing["status"] == "submitted" and listing["reference_no"].startswith("TT2026")
    assert listing["deposit"] == listing["listing_price"] // 10
    queue = (await client.get("/api/review/listings", headers=parties["operator"]["headers"])).json()
    assert [item["id"] for item in queue] == [listing["id"]]
    assert (await client.get(f"/api/listings/{listing['id']}")).status_code == 404
    assert (await client.get("/api/catalogue")).json()["total"] == 0


async def test_approval_announces_the_listing_for_twenty_working_days(
    client: httpx.AsyncClient, parties: dict[str, Any], clock: FixedClock
) -> None:
    listing = await _submitted(client, parties)
    approved = await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"},
                                 headers=parties["operator"]["headers"])
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "announced"
    start = datetime.fromisoformat(body["announcement_start"])
    end = datetime.fromisoformat(body["announcement_end"])
    assert start == clock.now()
    # Approved Monday 2 March 2026: the 20th working day after it is Monday 30 March; the period ends at its midnight.
    assert end.astimezone(SHANGHAI) == datetime(2026, 3, 31, 0, 0, tzinfo=SHANGHAI)
    public = await client.get(f"/api/listings/{listing['id']}")
    assert public.status_code == 200
    assert (await client.get("/api/catalogue")).json()["total"] == 1


async def test_a_returned_listing_carries_reasons_and_can_be_corrected_and_resubmitted(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    listing = await _submitted(client, parties)
    operator = parties["operator"]["headers"]
    returned = await client.post(f"/api/listings/{listing['id']}/review",
                                 json={"decision": "return", "reasons": "受让方条件含有指向性要求"}, headers=operator)
    assert returned.json()["status"] == "returned"
    assert returned.json()["return_reasons"] == "受让方条件含有指向性要求"
    corrected = await client.put(
        f"/api/listings/{listing['id']}",
        json=listing_body(listing["achievement_id"], bidder_conditions="依法设立的企业法人或其他组织。"),
        headers=parties["inst"]["headers"],
    )
    assert corrected.status_code == 200 and corrected.json()["status"] == "submitted"
    await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"}, headers=operator)
    history = (await client.get(f"/api/listings/{listing['id']}/reviews", headers=parties["inst"]["headers"])).json()
    assert [h["decision"] for h in history] == ["return", "approve"]


async def test_returning_without_reasons_is_refused(client: httpx.AsyncClient, parties: dict[str, Any]) -> None:
    listing = await _submitted(client, parties)
    response = await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "return"},
                                 headers=parties["operator"]["headers"])
    assert response.status_code == 422 and "reasons" in response.json()["errors"]
    still = await client.get(f"/api/listings/{listing['id']}", headers=parties["inst"]["headers"])
    assert still.json()["status"] == "submitted"


async def test_a_listing_cannot_be_reviewed_twice(client: httpx.AsyncClient, parties: dict[str, Any]) -> None:
    listing = await _submitted(client, parties)
    operator = parties["operator"]["headers"]
    await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"}, headers=operator)
    again = await client.post(f"/api/listings/{listing['id']}/review",
                              json={"decision": "return", "reasons": "late"}, headers=operator)
    assert again.status_code == 409
    assert (await client.get(f"/api/listings/{listing['id']}")).json()["status"] == "announced"


async def test_one_achievement_has_at_most_one_open_listing(client: httpx.AsyncClient, parties: dict[str, Any]) -> None:
    listing = await _submitted(client, parties)
    again = await client.post("/api/listings", json=listing_body(listing["achievement_id"]),
                              headers=parties["inst"]["headers"])
    assert again.status_code == 409


async def test_an_achievement_is_frozen_while_its_listing_is_open(client: httpx.AsyncClient, parties: dict[str, Any]) -> None:
    listing = await _submitted(client, parties)
    edit = await client.put(f"/api/achievements/{listing['achievement_id']}",
                            json=achievement_body(title="改过的名称"), headers=parties["inst"]["headers"])
    assert edit.status_code == 409


async def test_withdrawing_a_submitted_listing_takes_it_out_of_the_queue(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    listing = await _submitted(client, parties)
    withdrawn = await client.post(f"/api/listings/{listing['id']}/withdraw", headers=parties["inst"]["headers"])
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await client.get("/api/review/listings", headers=parties["operator"]["headers"])).json() == []


async def test_an_announced_listing_cannot_be_withdrawn_by_the_institution(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    listing = await _submitted(client, parties)
    await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"},
                      headers=parties["operator"]["headers"])
    response = await client.post(f"/api/listings/{listing['id']}/withdraw", headers=parties["inst"]["headers"])
    assert response.status_code == 409


async def test_announcement_over_a_holiday_skips_it(
    client: httpx.AsyncClient, parties: dict[str, Any], clock: FixedClock
) -> None:
    # Approved Wednesday 30 September 2026: National Day (1-7 Oct) is skipped, Saturday 10 Oct is worked.
    clock.set(datetime(2026, 9, 30, 9, 0, tzinfo=SHANGHAI))
    listing = await _submitted(client, parties)
    body = (await client.post(f"/api/listings/{listing['id']}/review", json={"decision": "approve"},
                              headers=parties["operator"]["headers"])).json()
    end = datetime.fromisoformat(body["announcement_end"]).astimezone(SHANGHAI)
    assert end == datetime(2026, 11, 4, 0, 0, tzinfo=SHANGHAI)
    assert end - clock.now() > timedelta(days=28)


async def test_listing_price_must_not_be_below_the_appraised_value(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    inst = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    low = await client.post("/api/listings", json=listing_body(achievement["id"], listing_price=100_000_00 - 1),
                            headers=inst)
    assert low.status_code == 422 and "appraised value" in low.json()["errors"]["listing_price"]
    assert (await client.get("/api/listings/mine", headers=inst)).json() == []
    at_appraisal = await client.post("/api/listings", json=listing_body(achievement["id"], listing_price=100_000_00),
                                     headers=inst)
    assert at_appraisal.status_code == 201, at_appraisal.text


async def test_deposit_defaults_to_10_percent_of_the_listing_price_and_is_a_per_lot_setting(
    client: httpx.AsyncClient, parties: dict[str, Any]
) -> None:
    inst = parties["inst"]["headers"]
    first = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    default = (await client.post("/api/listings", json=listing_body(first["id"], listing_price=123_456_78),
                                 headers=inst)).json()
    assert default["deposit"] == 12_345_67  # 10%, in whole minor units
    second = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    chosen = (await client.post("/api/listings", json=listing_body(second["id"], deposit=5_000_00),
                                headers=inst)).json()
    assert chosen["deposit"] == 5_000_00
