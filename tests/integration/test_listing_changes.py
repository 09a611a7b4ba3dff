"""A listing's announcement period while it runs (DOMAIN.md Listing 3 and 6): extensions of at
least 5 working days, also of an unsold listing; suspensions that pause the clock for at most a
month and resume by themselves; term changes only through an approved request, which restarts
the period."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from exchange.clock import FixedClock
from exchange.listings.changes import ListingChangeService
from exchange.services import Services
from tests.integration.helpers import achievement_body, csrf_from, listing_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Approved on Monday 2 March 2026: 20 working days end at midnight after Monday 30 March.
FIRST_END = datetime(2026, 3, 31, 0, 0, tzinfo=SHANGHAI)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _last_day(end: datetime) -> date:
    """The last day a period ending at `end` (24:00 of that day) includes."""
    return (end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()


async def _announced(client: httpx.AsyncClient, parties: dict[str, Any], **listing: Any) -> dict[str, Any]:
    inst = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    submitted = await client.post("/api/listings", json=listing_body(achievement["id"], **listing), headers=inst)
    assert submitted.status_code == 201, submitted.text
    approved = await client.post(f"/api/listings/{submitted.json()['id']}/review", json={"decision": "approve"},
                                 headers=parties["operator"]["headers"])
    assert approved.status_code == 200, approved.text
    result: dict[str, Any] = approved.json()
    return result


async def _overview(client: httpx.AsyncClient, listing_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = await client.get(f"/api/listings/{listing_id}/changes", headers=headers or {})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _records(services: Services, reference_no: str, kind: str) -> list[dict[str, Any]]:
    async with services.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, kind, subject, body, open_until, corrects, hash FROM disclosures "
            "WHERE procedure = $1 AND kind = $2 ORDER BY seq", reference_no, kind)
    return [dict(r) for r in rows]


async def _listing_row(services: Services, listing_id: int) -> dict[str, Any]:
    async with services.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM listings WHERE id = $1", listing_id)
    assert row is not None
    return dict(row)


def _problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


# -- the period -------------------------------------------------------------------------------------


async def test_announcement_period_is_at_least_20_working_days_also_when_a_change_restarts_it(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    short = await client.post("/api/listings", headers=inst,
                              json=listing_body(achievement["id"], announcement_working_days=19))
    assert _problem(short, 422)["errors"]["announcement_working_days"]
    listing = await _announced(client, parties)
    assert _at(listing["announcement_end"]) == FIRST_END
    clock.advance(timedelta(days=8))  # Tuesday 10 March
    requested = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                                  json={"reasons": "专利年费缴纳情况更新", "terms": "合同签订后 15 个工作日内付清。"})
    assert requested.status_code == 201, requested.text
    change_id = requested.json()["open_change"]["id"]
    decided = await client.post(f"/api/listings/{listing['id']}/change-requests/{change_id}/decision",
                                headers=operator, json={"decision": "approve"})
    assert decided.status_code == 200, decided.text
    period = decided.json()["listing"]
    start, end = _at(period["announcement_start"]), _at(period["announcement_end"])
    assert start == clock.now()
    assert services.calendar.working_days_between(start.astimezone(SHANGHAI).date(), _last_day(end)) == 20
    assert end == datetime(2026, 4, 9, 0, 0, tzinfo=SHANGHAI)  # Qingming (4-6 April) does not count


# -- extension --------------------------------------------------------------------------------------


async def test_extension_adds_at_least_5_working_days_counted_after_the_current_end(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services,
) -> None:
    inst = parties["inst"]["headers"]
    listing = await _announced(client, parties)
    url = f"/api/listings/{listing['id']}/extensions"
    too_short = await client.post(url, headers=inst, json={"working_days": 4})
    assert "working_days" in _problem(too_short, 422)["errors"]
    assert (await _listing_row(services, listing["id"]))["announcement_end"] == FIRST_END
    assert await _records(services, listing["reference_no"], "listing_extension") == []

    first = await client.post(url, headers=inst, json={"working_days": 5, "reason": "应意向方要求"})
    assert first.status_code == 200, first.text
    period = first.json()["listing"]
    # Monday 30 March is the last day; five working days after it skip Qingming: Tuesday 7 April.
    assert _at(period["announcement_end"]) == datetime(2026, 4, 8, 0, 0, tzinfo=SHANGHAI)
    assert _at(period["announcement_start"]) == _at(listing["announcement_start"])
    assert period["extensions"] == 1
    second = (await client.post(url, headers=inst, json={"working_days": 7})).json()["listing"]
    assert services.calendar.working_days_between(date(2026, 4, 7), _last_day(_at(second["announcement_end"]))) == 7
    assert second["extensions"] == 2

    published = await _records(services, listing["reference_no"], "listing_extension")
    assert [r["subject"] for r in published] == [f"{listing['reference_no']}-EXT1", f"{listing['reference_no']}-EXT2"]
    assert published[0]["body"]["working_days"] == 5 and published[0]["body"]["reason"] == "应意向方要求"
    assert _at(published[0]["body"]["new_end"]) == datetime(2026, 4, 8, 0, 0, tzinfo=SHANGHAI)
    assert _at(published[0]["body"]["previous_end"]) == FIRST_END
    assert published[1]["open_until"] == _at(second["announcement_end"])
    history = (await _overview(client, listing["id"]))["history"]
    assert [h["kind"] for h in history] == ["listing_extension", "listing_extension"]


async def test_extension_of_an_unsold_listing_announces_it_again_from_now(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst = parties["inst"]["headers"]
    listing = await _announced(client, parties)
    url = f"/api/listings/{listing['id']}/extensions"
    clock.set(FIRST_END + timedelta(hours=1))
    ended = await client.post(url, headers=inst, json={"working_days": 5})
    assert "ended" in _problem(ended, 409)["detail"]
    # The procedure found no qualified, deposited buyer.
    async with services.pool.acquire() as conn:
        await conn.execute("UPDATE listings SET status = 'unsold' WHERE id = $1", listing["id"])
    clock.advance(timedelta(days=6))
    reopened = await client.post(url, headers=inst, json={"working_days": 10})
    assert reopened.status_code == 200, reopened.text
    period = reopened.json()["listing"]
    assert period["status"] == "announced" and period["extensions"] == 1
    assert _at(period["announcement_start"]) == clock.now()
    assert _at(period["announcement_end"]) == services.calendar.period_end(clock.now(), 10)
    body = (await _records(services, listing["reference_no"], "listing_extension"))[0]["body"]
    assert body["reopened_after_no_buyer"] is True and body["working_days"] == 10


# -- suspension -------------------------------------------------------------------------------------


async def test_suspension_pauses_the_clock_and_resumption_moves_the_end_by_the_time_suspended(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    listing = await _announced(client, parties)
    clock.advance(timedelta(days=3, hours=5))
    suspended = await client.post(f"/api/listings/{listing['id']}/suspension", headers=operator,
                                  json={"reason": "权属争议待核实", "days": 20})
    assert suspended.status_code == 200, suspended.text
    state = suspended.json()["listing"]
    assert state["status"] == "suspended" and _at(state["suspended_at"]) == clock.now()
    assert _at(state["resume_by"]) == clock.now() + timedelta(days=20)
    # No intent can be registered while suspended, and the clock is stopped: neither an
    # extension nor another suspension meanwhile.
    intent = {"statement": "我司为依法设立的企业法人。"}
    investor = parties["investor"]["headers"]
    _problem(await client.post(f"/api/listings/{listing['id']}/intents", headers=investor, json=intent), 409)
    _problem(await client.post(f"/api/listings/{listing['id']}/extensions", headers=inst,
                               json={"working_days": 5}), 409)
    _problem(await client.post(f"/api/listings/{listing['id']}/suspension", headers=operator,
                               json={"reason": "again"}), 409)

    paused = timedelta(days=6, hours=7, minutes=13)
    clock.advance(paused)
    resumed = await client.post(f"/api/listings/{listing['id']}/resumption", headers=operator)
    assert resumed.status_code == 200, resumed.text
    state = resumed.json()["listing"]
    assert state["status"] == "announced" and state["suspended_at"] is None
    assert _at(state["announcement_end"]) == FIRST_END + paused
    _problem(await client.post(f"/api/listings/{listing['id']}/resumption", headers=operator), 409)
    registered = await client.post(f"/api/listings/{listing['id']}/intents", headers=investor, json=intent)
    assert registered.status_code == 201, registered.text

    suspension = (await _records(services, listing["reference_no"], "listing_suspension"))[0]["body"]
    assert suspension["reason"] == "权属争议待核实"
    resumption = (await _records(services, listing["reference_no"], "listing_resumption"))[0]["body"]
    assert resumption["how"] == "operator" and resumption["paused_seconds"] == int(paused.total_seconds())
    assert _at(resumption["new_end"]) == FIRST_END + paused


async def test_suspension_lasts_at_most_a_month_and_resumes_automatically(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    operator = parties["operator"]["headers"]
    listing = await _announced(client, parties)
    url = f"/api/listings/{listing['id']}/suspension"
    too_long = await client.post(url, headers=operator, json={"reason": "核查", "days": 31})
    assert "days" in _problem(too_long, 422)["errors"]
    assert (await _listing_row(services, listing["id"]))["status"] == "announced"
    suspended_at = clock.now()
    assert (await client.post(url, headers=operator, json={"reason": "核查"})).status_code == 200
    assert (await _listing_row(services, listing["id"]))["resume_by"] == suspended_at + timedelta(days=30)

    clock.advance(timedelta(days=29, hours=23))
    assert await services.listing_changes.sweep() == {"resumed": 0}
    assert (await _listing_row(services, listing["id"]))["status"] == "suspended"
    clock.advance(timedelta(days=2))
    assert await services.listing_changes.sweep() == {"resumed": 1}
    row = await _listing_row(services, listing["id"])
    # Paused for the month allowed, not for the two days the sweep came late.
    assert row["status"] == "announced" and row["announcement_end"] == FIRST_END + timedelta(days=30)
    assert (await _records(services, listing["reference_no"], "listing_resumption"))[0]["body"]["how"] == "automatic"
    assert await services.listing_changes.sweep() == {"resumed": 0}


async def test_suspension_month_is_shortened_by_the_calendars_acceleration(
    services: Services, clock: FixedClock, client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    listing = await _announced(client, parties)
    fast = ListingChangeService(services.pool, clock, services.calendar.with_acceleration(1440))
    from exchange.listings.change_types import SuspensionInput

    operator = await services.accounts.by_email("op@exchange.test")
    view = await fast.suspend(operator, listing["id"], SuspensionInput(reason="核查", days=30))
    assert view["listing"]["resume_by"] == clock.now() + timedelta(minutes=30)  # 30 days / 1440


# -- changes of terms --------------------------------------------------------------------------------


async def test_approved_change_applies_the_terms_and_restarts_the_period(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    listing = await _announced(client, parties)
    original = (await _records(services, listing["reference_no"], "listing_announcement"))[0]
    clock.advance(timedelta(days=9))
    requested = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst, json={
        "reasons": "评估报告更新", "listing_price": 150_000_00, "deposit": 15_000_00,
        "bidder_conditions": "依法设立的企业法人，注册资本不低于 500 万元。", "terms": listing["terms"]})
    assert requested.status_code == 201, requested.text
    change = requested.json()["open_change"]
    # The unchanged terms are not part of the change.
    assert set(change["changes"]) == {"listing_price", "deposit", "bidder_conditions"}
    assert change["changes"]["listing_price"] == {"from": 120_000_00, "to": 150_000_00}
    public = (await client.get(f"/api/listings/{listing['id']}")).json()
    assert public["listing_price"] == 120_000_00  # nothing changes before the approval

    clock.advance(timedelta(days=1))
    decided = await client.post(f"/api/listings/{listing['id']}/change-requests/{change['id']}/decision",
                                headers=operator, json={"decision": "approve", "note": "材料齐全"})
    assert decided.status_code == 200, decided.text
    after = (await client.get(f"/api/listings/{listing['id']}")).json()
    assert after["listing_price"] == 150_000_00 and after["deposit"] == 15_000_00
    assert after["bidder_conditions"].startswith("依法设立的企业法人，注册资本")
    assert _at(after["announcement_start"]) == clock.now()
    assert _at(after["announcement_end"]) == services.calendar.period_end(clock.now(), 20)
    assert decided.json()["changes"][0]["status"] == "approved"

    notice = (await _records(services, listing["reference_no"], "listing_change"))[0]
    assert notice["body"]["changes"]["deposit"] == {"from": 12_000_00, "to": 15_000_00}
    assert notice["body"]["period_restarted"] is True and "withdraw" in notice["body"]["intents"]
    assert _at(notice["body"]["announcement"]["end"]) == _at(after["announcement_end"])
    announcements = await _records(services, listing["reference_no"], "listing_announcement")
    assert announcements[0] == original  # the original record is never edited
    correction = announcements[1]
    assert correction["corrects"] == original["seq"]
    assert correction["body"]["listing_price"] == 150_000_00
    assert correction["open_until"] == _at(after["announcement_end"])
    history = (await _overview(client, listing["id"]))["history"]
    assert [h["kind"] for h in history] == ["listing_change"]


async def test_approved_change_of_a_suspended_listing_ends_the_suspension_and_restarts_the_period(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    listing = await _announced(client, parties)
    await client.post(f"/api/listings/{listing['id']}/suspension", headers=operator, json={"reason": "待变更"})
    requested = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                                  json={"reasons": "改为许可", "transfer_mode": "licence"})
    assert requested.status_code == 201, requested.text
    clock.advance(timedelta(days=4))
    change_id = requested.json()["open_change"]["id"]
    decided = await client.post(f"/api/listings/{listing['id']}/change-requests/{change_id}/decision",
                                headers=operator, json={"decision": "approve"})
    state = decided.json()["listing"]
    assert state["status"] == "announced" and state["transfer_mode"] == "licence"
    assert _at(state["announcement_end"]) == services.calendar.period_end(clock.now(), 20)
    assert (await _records(services, listing["reference_no"], "listing_resumption"))[0]["body"]["how"] == "change"


async def test_rejected_change_changes_nothing(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    listing = await _announced(client, parties)
    before = await _listing_row(services, listing["id"])
    requested = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                                  json={"reasons": "降价", "listing_price": 110_000_00})
    change_id = requested.json()["open_change"]["id"]
    url = f"/api/listings/{listing['id']}/change-requests/{change_id}/decision"
    no_note = await client.post(url, headers=operator, json={"decision": "reject"})
    assert "note" in _problem(no_note, 422)["errors"]
    clock.advance(timedelta(days=2))
    rejected = await client.post(url, headers=operator, json={"decision": "reject", "note": "降价理由不充分"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["changes"][0]["status"] == "rejected"
    assert rejected.json()["changes"][0]["decision_note"] == "降价理由不充分"
    assert await _listing_row(services, listing["id"]) == before
    assert await _records(services, listing["reference_no"], "listing_change") == []
    _problem(await client.post(url, headers=operator, json={"decision": "approve"}), 409)  # decided once
    # The public sees no rejected request; the institution may ask again.
    assert (await _overview(client, listing["id"]))["changes"] == []
    again = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                              json={"reasons": "补充说明", "listing_price": 110_000_00})
    assert again.status_code == 201, again.text


async def test_terms_cannot_change_without_approval(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    listing = await _announced(client, parties)
    edited = await client.put(f"/api/listings/{listing['id']}", headers=inst,
                              json=listing_body(listing["achievement_id"], listing_price=200_000_00))
    _problem(edited, 409)
    first = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                              json={"reasons": "调整", "terms": "一次性付清。"})
    assert first.status_code == 201
    second = await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                               json={"reasons": "再调整", "terms": "分两期付清。"})
    assert "awaits" in _problem(second, 409)["detail"]
    assert (await _listing_row(services, listing["id"]))["terms"] == listing["terms"]
    # Once the period is over a pending change can no longer be applied, only rejected.
    clock.set(FIRST_END + timedelta(minutes=1))
    change_id = first.json()["open_change"]["id"]
    late = await client.post(f"/api/listings/{listing['id']}/change-requests/{change_id}/decision",
                             headers=operator, json={"decision": "approve"})
    _problem(late, 409)
    assert (await _listing_row(services, listing["id"]))["terms"] == listing["terms"]
    _problem(await client.post(f"/api/listings/{listing['id']}/change-requests", headers=inst,
                               json={"reasons": "x", "terms": "y"}), 409)


async def test_bad_input_and_permissions_change_nothing(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services,
) -> None:
    inst, operator = parties["inst"]["headers"], parties["operator"]["headers"]
    other, investor = parties["other_inst"]["headers"], parties["investor"]["headers"]
    listing = await _announced(client, parties)
    before = await _listing_row(services, listing["id"])
    base = f"/api/listings/{listing['id']}"
    requests = f"{base}/change-requests"
    for body, field in [
        ({"reasons": "x", "listing_price": 90_000_00}, "listing_price"),  # below the appraisal
        ({"reasons": "x", "deposit": 130_000_00}, "deposit"),  # above the price
        ({"reasons": "x", "transfer_mode": "gift"}, "transfer_mode"),
        ({"reasons": "x", "competitive_method": "lottery"}, "competitive_method"),
        ({"reasons": "x", "price_weight_bp": 500}, "price_weight_bp"),
        ({"reasons": "x", "terms": "<script>alert(1)</script>"}, "terms"),
        ({"reasons": "", "terms": "新条件"}, "reasons"),
        ({"reasons": "x", "listing_price": 120_000_00}, "changes"),  # the same as published
        ({"reasons": "x"}, "changes"),
    ]:
        assert field in _problem(await client.post(requests, headers=inst, json=body), 422)["errors"], body
    assert (await client.post(requests, headers=inst, json={"reasons": "x", "colour": "red"})).status_code == 400
    _problem(await client.post(f"{base}/extensions", headers=inst, json={"working_days": "five"}), 400)
    _problem(await client.post(f"{base}/suspension", headers=operator, json={"reason": " ", "days": 0}), 422)

    # Who may do what.
    _problem(await client.post(requests, json={"reasons": "x", "terms": "y"}), 401)
    _problem(await client.post(requests, headers=investor, json={"reasons": "x", "terms": "y"}), 403)
    _problem(await client.post(requests, headers=operator, json={"reasons": "x", "terms": "y"}), 403)
    _problem(await client.post(requests, headers=other, json={"reasons": "x", "terms": "y"}), 404)
    _problem(await client.post(f"{base}/extensions", headers=operator, json={"working_days": 5}), 403)
    _problem(await client.post(f"{base}/extensions", headers=other, json={"working_days": 5}), 404)
    _problem(await client.post(f"{base}/suspension", headers=inst, json={"reason": "x"}), 403)
    _problem(await client.post(f"{base}/resumption", headers=investor), 403)
    _problem(await client.post("/api/listings/999999/suspension", headers=operator, json={"reason": "x"}), 404)
    assert await _listing_row(services, listing["id"]) == before
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM listing_changes") == 0

    made = await client.post(requests, headers=inst, json={"reasons": "调整", "terms": "一次性付清。"})
    change_id = made.json()["open_change"]["id"]
    decision = f"{requests}/{change_id}/decision"
    _problem(await client.post(decision, headers=inst, json={"decision": "approve"}), 403)
    _problem(await client.post(decision, headers=operator, json={"decision": "maybe"}), 422)
    _problem(await client.post(f"{requests}/{change_id + 1}/decision", headers=operator,
                               json={"decision": "approve"}), 404)
    assert await _listing_row(services, listing["id"]) == before
    # Pending and rejected requests are for the seller and operators; the public sees approved ones.
    assert (await _overview(client, listing["id"], investor))["open_change"] is None
    assert (await _overview(client, listing["id"], inst))["open_change"]["id"] == change_id


async def test_a_listing_not_yet_announced_has_no_public_period_page(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    inst = parties["inst"]["headers"]
    achievement = (await client.post("/api/achievements", json=achievement_body(), headers=inst)).json()
    listing = (await client.post("/api/listings", json=listing_body(achievement["id"]), headers=inst)).json()
    _problem(await client.get(f"/api/listings/{listing['id']}/changes"), 404)
    assert (await _overview(client, listing["id"], inst))["can"]["extend"] is False
    _problem(await client.post(f"/api/listings/{listing['id']}/extensions", headers=inst,
                               json={"working_days": 5}), 409)


# -- deadlines while down ---------------------------------------------------------------------------


class _WallClock:
    """A clock that is not a FixedClock, so the sweeper runs as in production, at a fixed moment."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def test_a_resumption_due_while_the_exchange_was_down_is_applied_at_start(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    operator = parties["operator"]["headers"]
    listing = await _announced(client, parties)
    await client.post(f"/api/listings/{listing['id']}/suspension", headers=operator, json={"reason": "核查", "days": 5})
    # The exchange is down for three weeks; it starts again.
    restarted = ListingChangeService(services.pool, _WallClock(clock.now() + timedelta(days=21)), services.calendar)
    restarted.start()
    try:
        for _ in range(100):
            row = await _listing_row(services, listing["id"])
            if row["status"] == "announced":
                break
            await asyncio.sleep(0.05)
    finally:
        await restarted.stop()
    assert row["status"] == "announced"
    assert row["announcement_end"] == FIRST_END + timedelta(days=5)
    resumption = (await _records(services, listing["reference_no"], "listing_resumption"))[0]["body"]
    assert resumption["how"] == "automatic"


# -- the page ----------------------------------------------------------------------------------------


async def _login(client: httpx.AsyncClient, email: str) -> str:
    page = await client.get("/login")
    answer = await client.post("/login", data={"email": email, "password": "correct horse battery",
                                               "_csrf": csrf_from(page.text)})
    assert answer.status_code in (302, 303), answer.text
    return csrf_from((await client.get("/account")).text)


async def test_the_period_page_lets_the_institution_request_a_change_with_readable_errors(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services,
) -> None:
    listing = await _announced(client, parties)
    csrf = await _login(client, "tto@north.test")
    page = await client.get(f"/listings/{listing['id']}/changes?lang=en")
    assert page.status_code == 200 and 'id="request-form"' in page.text and 'id="extend-form"' in page.text
    assert 'id="suspend-form"' not in page.text
    form = {"_csrf": csrf, "listing_price": "90000", "deposit": "12000", "transfer_mode": "assignment",
            "competitive_method": "english_auction", "price_weight": "60", "terms": listing["terms"],
            "bidder_conditions": listing["bidder_conditions"], "reasons": "降价"}
    refused = await client.post(f"/listings/{listing['id']}/changes/request", data=form)
    assert refused.status_code == 422 and "appraised value" in refused.text
    assert 'value="90000"' in refused.text  # what was typed is kept
    accepted = await client.post(f"/listings/{listing['id']}/changes/request", data=form | {"listing_price": "130000"})
    assert accepted.status_code == 303
    shown = await client.get(f"/listings/{listing['id']}/changes")
    assert 'id="open-change"' in shown.text and "130,000.00" in shown.text
    assert (await _listing_row(services, listing["id"]))["listing_price"] == 120_000_00
    listing_page = await client.get(f"/listings/{listing['id']}")
    assert f'href="/listings/{listing["id"]}/changes"' in listing_page.text
