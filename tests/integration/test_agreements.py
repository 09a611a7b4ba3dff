"""Agreement pricing with notice (协议定价 + 公示), DOMAIN.md: the institution publishes the
achievement's name, summary, transfer mode, proposed price and whether the buyer is an inventor
or related party; the notice runs >= 15 days; anyone may object; objections and their outcome
are published; only then can the deal close and be settled like any other."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from exchange.agreements.service import AgreementService
from exchange.agreements.types import AgreementInput
from exchange.clock import FixedClock
from exchange.demo.agreements import ensure_demo_agreement
from exchange.demo.loader import load_demo
from exchange.disclosure.verify import verify
from exchange.services import Services
from tests.integration.helpers import (
    PASSWORD,
    achievement_body,
    csrf_from,
    listing_body,
    register,
    token_for,
)
from tests.ocds_schema import ocds_problems
from web.app import create_app

APPRAISAL = 100_000_00
PRICE = 110_000_00


async def _achievement(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> int:
    answer = await client.post("/api/achievements", json=achievement_body(**overrides), headers=headers)
    assert answer.status_code == 201, answer.text
    found: int = answer.json()["id"]
    return found


@pytest.fixture
async def ctx(client: httpx.AsyncClient, parties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The parties, a second investor who may object, and one achievement of the institution."""
    await register(client, "investor", "objector@fund.test", "监督基金 Watch Fund")
    return parties | {
        "objector": {"headers": await token_for(client, "objector@fund.test")},
        "achievement_id": await _achievement(client, parties["inst"]["headers"]),
    }


def _notice(achievement_id: int, **overrides: Any) -> dict[str, Any]:
    return {"achievement_id": achievement_id, "buyer_email": "vc@capital.test", "price": PRICE,
            "transfer_mode": "licence"} | overrides


async def _publish(client: httpx.AsyncClient, ctx: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    answer = await client.post("/api/agreements", json=_notice(ctx["achievement_id"]) | overrides,
                               headers=ctx["inst"]["headers"])
    assert answer.status_code == 201, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _object(client: httpx.AsyncClient, agreement_id: int, headers: dict[str, str] | None,
                  grounds: str = "价格明显偏低，且未说明定价依据。") -> httpx.Response:
    return await client.post(f"/api/agreements/{agreement_id}/objections", json={"grounds": grounds},
                             headers=headers or {})


async def _answer(client: httpx.AsyncClient, ctx: dict[str, Any], agreement_id: int, objection_id: int,
                  outcome: str, answer: str = "经核查，定价依据评估报告，异议不成立。", *,
                  who: str = "operator") -> httpx.Response:
    return await client.post(f"/api/agreements/{agreement_id}/objections/{objection_id}/answer",
                             json={"outcome": outcome, "answer": answer}, headers=ctx[who]["headers"])


async def _records(services: Services, kind: str | None = None) -> list[dict[str, Any]]:
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, kind, subject, body, open_until, corrects FROM disclosures "
                                "WHERE $1::text IS NULL OR kind = $1 ORDER BY seq", kind)
    return [dict(r) for r in rows]


async def _count(services: Services, table: str) -> int:
    async with services.pool.acquire() as conn:
        found: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return found


def _end(agreement: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(agreement["notice_end"])


async def _past_the_end(services: Services, clock: FixedClock, agreement: dict[str, Any]) -> None:
    clock.set(_end(agreement) + timedelta(seconds=1))


# -- the notice ------------------------------------------------------------------------------------

async def test_agreement_notice_publishes_name_summary_mode_price_related_party_and_objection_procedure(
        client: httpx.AsyncClient, services: Services, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx, related_party=True, related_party_note="受让方法定代表人为发明人张三")
    assert re.fullmatch(r"AP2026\d{6}", notice["reference_no"])
    assert notice["status"] == "noticed" and notice["window"] == "open"
    [record] = await _records(services, "agreement_notice")
    body = record["body"]
    assert record["subject"] == notice["reference_no"]
    assert body["item"]["title"] == achievement_body()["title"]
    assert body["item"]["summary"] == achievement_body()["summary"]  # no summary given: the achievement's
    assert (body["transfer_mode"], body["price"], body["currency"]) == ("licence", PRICE, "CNY")
    assert body["related_party"] == {"flag": True, "note": "受让方法定代表人为发明人张三"}
    assert notice["reference_no"] in body["objection_procedure"] and "until" in body["objection_procedure"]
    beijing_end = _end(notice).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert f"until {beijing_end} Beijing time" in body["objection_procedure"]  # the time as the page shows it
    assert body["parties"]["buyer"] == "启明资本 Qiming Capital"
    assert record["open_until"] == _end(notice)
    public = await client.get(f"/api/agreements/{notice['id']}")
    assert public.status_code == 200
    assert public.json()["notice_seq"] == record["seq"] and public.json()["trade_id"] is None
    listed = await client.get("/api/agreements", params={"open": "true"})
    assert [a["id"] for a in listed.json()] == [notice["id"]]


async def test_agreement_notice_runs_at_least_15_days(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    short = await client.post("/api/agreements", json=_notice(ctx["achievement_id"], notice_days=14),
                              headers=ctx["inst"]["headers"])
    assert short.status_code == 422 and "notice_days" in short.json()["errors"]
    assert await _count(services, "agreements") == 0
    notice = await _publish(client, ctx)
    start = datetime.fromisoformat(notice["notice_start"])
    assert notice["notice_days"] == 15 and _end(notice) - start == timedelta(days=15)
    clock.set(_end(notice) - timedelta(seconds=1))
    assert await services.agreements.sweep() == {"dealt": 0}
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["status"] == "noticed"
    assert await _count(services, "trades") == 0
    clock.set(_end(notice))
    assert await services.agreements.sweep() == {"dealt": 1}
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["status"] == "dealt"


async def test_longer_notice_period_is_kept_and_accelerated_time_shrinks_it(
        services: Services, clock: FixedClock, ctx: dict[str, Any], client: httpx.AsyncClient) -> None:
    notice = await _publish(client, ctx, notice_days=20)
    assert _end(notice) - datetime.fromisoformat(notice["notice_start"]) == timedelta(days=20)
    fast = AgreementService(services.pool, clock, services.calendar.with_acceleration(1440), services.trades)
    other = await _achievement(client, ctx["inst"]["headers"])
    inst = await services.accounts.by_email("tto@north.test")
    quick = await fast.create(inst, AgreementInput(achievement_id=other, buyer_email="vc@capital.test", price=PRICE))
    assert _end(quick) - datetime.fromisoformat(quick["notice_start"]) == timedelta(days=15) / 1440


# -- objections --------------------------------------------------------------------------------------

async def test_anyone_may_object_but_not_the_parties(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    assert (await _object(client, notice["id"], None)).status_code == 401
    for who in ("inst", "investor", "operator"):
        refused = await _object(client, notice["id"], ctx[who]["headers"])
        assert refused.status_code == 403, (who, refused.text)
    assert await _count(services, "agreement_objections") == 0
    assert (await _object(client, notice["id"], ctx["objector"]["headers"])).status_code == 201
    assert (await _object(client, notice["id"], ctx["other_inst"]["headers"])).status_code == 201
    again = await _object(client, notice["id"], ctx["objector"]["headers"])
    assert again.status_code == 409  # one open objection per person
    view = (await client.get(f"/api/agreements/{notice['id']}")).json()
    assert view["status"] == "objected" and view["open_objections"] == 2
    assert all("objector_name" not in o for o in view["objections"])
    staff = (await client.get(f"/api/agreements/{notice['id']}", headers=ctx["operator"]["headers"])).json()
    assert {o["objector_name"] for o in staff["objections"]} == {"监督基金 Watch Fund", "南方研究院 South Institute"}
    await _past_the_end(services, clock, notice)
    late = await _object(client, notice["id"], ctx["objector"]["headers"], "迟到的异议")
    assert late.status_code == 409
    assert await _count(services, "agreement_objections") == 2


async def test_open_objection_pauses_the_close(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    assert (await _object(client, notice["id"], ctx["objector"]["headers"])).status_code == 201
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 0}
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["status"] == "objected"
    assert await _count(services, "trades") == 0
    assert await _records(services, "agreement_cleared") == []


async def test_upheld_objection_cancels_the_agreement_for_good(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    filed = (await _object(client, notice["id"], ctx["objector"]["headers"])).json()
    assert (await _answer(client, ctx, notice["id"], filed["id"], "upheld", who="inst")).status_code == 403
    assert (await _answer(client, ctx, notice["id"], filed["id"], "upheld")).status_code == 200
    view = (await client.get(f"/api/agreements/{notice['id']}")).json()
    assert view["status"] == "cancelled" and view["cancel_reason"].startswith("objection upheld")
    [outcome] = await _records(services, "agreement_objection_outcome")
    assert outcome["body"]["outcome"] == "upheld" and outcome["body"]["agreement_status"] == "cancelled"
    assert "Watch Fund" not in str(outcome["body"]) and "objector" not in str(outcome["body"])
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 0}
    assert await _count(services, "trades") == 0
    assert (await _object(client, notice["id"], ctx["other_inst"]["headers"])).status_code == 409
    twice = await _answer(client, ctx, notice["id"], filed["id"], "dismissed")
    assert twice.status_code == 409


async def test_dismissed_objection_is_published_and_the_deal_closes(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    first = (await _object(client, notice["id"], ctx["objector"]["headers"])).json()
    second = (await _object(client, notice["id"], ctx["other_inst"]["headers"])).json()
    assert (await _answer(client, ctx, notice["id"], first["id"], "dismissed")).status_code == 200
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["status"] == "objected"
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 0}  # the second one is still open
    answered = await _answer(client, ctx, notice["id"], second["id"], "dismissed", "理由不成立。")
    assert answered.status_code == 200
    assert answered.json()["status"] == "dealt"  # the last open objection dismissed past the end: it closes now
    outcomes = await _records(services, "agreement_objection_outcome")
    assert [r["body"]["outcome"] for r in outcomes] == ["dismissed", "dismissed"]
    assert outcomes[0]["body"]["objection"]["grounds"] == "价格明显偏低，且未说明定价依据。"
    assert all("Watch Fund" not in str(r["body"]) and "South" not in str(r["body"]) for r in outcomes)
    [cleared] = await _records(services, "agreement_cleared")
    assert cleared["body"]["objections"] == {"filed": 2, "dismissed": 2}
    [deal] = await _records(services, "deal_announcement")
    assert deal["body"]["method"] == "agreement_pricing" and deal["body"]["price"] == PRICE
    assert deal["seq"] > cleared["seq"]
    buyer_view = (await client.get(f"/api/agreements/{notice['id']}", headers=ctx["investor"]["headers"])).json()
    trade = (await client.get(f"/api/trades/{buyer_view['trade_id']}", headers=ctx["investor"]["headers"])).json()
    assert (trade["method"], trade["agreement_id"], trade["price"]) == ("agreement_pricing", notice["id"], PRICE)
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["trade_id"] is None  # only for the parties


async def test_agreement_deal_settles_like_any_other_to_its_certificate(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 1}
    trade_id = (await client.get(f"/api/agreements/{notice['id']}", headers=ctx["inst"]["headers"])).json()["trade_id"]
    buyer, seller, staff = ctx["investor"]["headers"], ctx["inst"]["headers"], ctx["operator"]["headers"]
    assert (await client.post(f"/api/trades/{trade_id}/contract", headers=buyer)).status_code == 200
    trade = (await client.get(f"/api/trades/{trade_id}", headers=buyer)).json()
    assert trade["deposit_applied"] == 0 and trade["balance_due"] > 0
    paid = await client.post("/api/bank-transfers", headers=staff, json={
        "reference_code": trade["reference_code"], "amount": trade["balance_due"], "statement_ref": "STMT-AP-1"})
    assert paid.status_code == 201, paid.text
    assert (await client.post(f"/api/trades/{trade_id}/delivery", headers=seller,
                              json={"note": "专利实施许可合同已备案"})).status_code == 200
    assert (await client.post(f"/api/trades/{trade_id}/accept", headers=buyer)).status_code == 200
    trade = (await client.get(f"/api/trades/{trade_id}", headers=buyer)).json()
    assert trade["status"] == "released" and trade["certificate_no"]
    certificate = (await client.get(f"/api/certificates/{trade['certificate_no']}")).json()
    body = certificate["body"]
    assert certificate["digest_valid"]
    assert (body["project_no"], body["method"], body["price"]) == (notice["reference_no"], "agreement_pricing", PRICE)
    assert body["item"]["transfer_mode"] == "licence" and body["dates"]["announced"] == notice["notice_start"]
    page = await client.get(f"/certificates/{trade['certificate_no']}?lang=en")
    assert page.status_code == 200 and "Agreement pricing (after notice)" in page.text
    assert "Licence" in page.text
    trade_page = await client.get(f"/trades/{trade_id}?lang=en", headers=buyer)
    assert trade_page.status_code == 200 and f'href="/agreements/{notice["id"]}"' in trade_page.text
    board = await client.get(f"/disclosures?procedure={notice['reference_no']}&lang=en")
    assert board.status_code == 200
    for label in ("Agreement-pricing notice", "Agreement notice cleared", "Deal announcement", "Transaction certificate"):
        assert label in board.text
    async with services.pool.acquire() as conn:
        assert (await verify(conn)).ok


# -- bad input, permissions, withdrawal --------------------------------------------------------------

async def test_bad_agreement_input_changes_nothing(
        client: httpx.AsyncClient, services: Services, ctx: dict[str, Any]) -> None:
    headers, achievement = ctx["inst"]["headers"], ctx["achievement_id"]
    cases = [
        (_notice(achievement, price=APPRAISAL - 1), 422, "price"),
        (_notice(achievement, price=0), 422, "price"),
        (_notice(achievement, buyer_email="nobody@nowhere.test"), 422, "buyer_email"),
        (_notice(achievement, buyer_email="tto@south.test"), 422, "buyer_email"),  # an institution, not an investor
        (_notice(achievement, buyer_email="tto@north.test"), 422, "buyer_email"),  # the seller itself
        (_notice(achievement, transfer_mode="gift"), 422, "transfer_mode"),
        (_notice(achievement, related_party=True), 422, "related_party_note"),
        (_notice(achievement, summary="<script>alert(1)</script>"), 422, "summary"),
        (_notice(achievement, notice_days=365), 422, "notice_days"),
    ]
    for body, status, field in cases:
        answer = await client.post("/api/agreements", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert field in answer.json()["errors"], (body, answer.json())
    unknown = await client.post("/api/agreements", json=_notice(achievement, surprise=1), headers=headers)
    assert unknown.status_code == 400
    theirs = await client.post("/api/agreements", json=_notice(achievement), headers=ctx["other_inst"]["headers"])
    assert theirs.status_code == 404
    investor = await client.post("/api/agreements", json=_notice(achievement), headers=ctx["investor"]["headers"])
    assert investor.status_code == 403
    anonymous = await client.post("/api/agreements", json=_notice(achievement))
    assert anonymous.status_code == 401
    listed = await client.post("/api/listings", json=listing_body(achievement), headers=headers)
    assert listed.status_code == 201
    during_listing = await client.post("/api/agreements", json=_notice(achievement), headers=headers)
    assert during_listing.status_code == 409
    assert await _count(services, "agreements") == 0
    assert await _records(services) == []
    notice = await _publish(client, ctx, achievement_id=await _achievement(client, headers))
    blank = await _object(client, notice["id"], ctx["objector"]["headers"], "   ")
    assert blank.status_code == 422 and "grounds" in blank.json()["errors"]
    bad_outcome = await client.post(f"/api/agreements/{notice['id']}/objections/1/answer",
                                    json={"outcome": "maybe", "answer": "x"}, headers=ctx["operator"]["headers"])
    assert bad_outcome.status_code == 422
    missing = await _answer(client, ctx, notice["id"], 999, "dismissed")
    assert missing.status_code == 404
    assert (await client.get("/api/agreements/999")).status_code == 404
    assert await _count(services, "agreements") == 1 and await _count(services, "agreement_objections") == 0
    assert len(await _records(services)) == 1


async def test_no_second_notice_or_new_listing_while_an_agreement_is_open(
        client: httpx.AsyncClient, services: Services, ctx: dict[str, Any]) -> None:
    await _publish(client, ctx)
    headers = ctx["inst"]["headers"]
    second = await client.post("/api/agreements", json=_notice(ctx["achievement_id"], buyer_email="objector@fund.test"),
                               headers=headers)
    assert second.status_code == 409
    listing = await client.post("/api/listings", json=listing_body(ctx["achievement_id"]), headers=headers)
    assert listing.status_code == 409
    assert await _count(services, "agreements") == 1 and await _count(services, "listings") == 0


async def test_institution_may_withdraw_its_notice_before_it_clears_as_a_correction(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    url = f"/api/agreements/{notice['id']}/withdraw"
    assert (await client.post(url, json={"reason": "x"}, headers=ctx["other_inst"]["headers"])).status_code == 403
    assert (await client.post(url, json={"reason": "x"}, headers=ctx["investor"]["headers"])).status_code == 403
    assert (await client.post(url, json={"reason": " "}, headers=ctx["inst"]["headers"])).status_code == 422
    [original] = await _records(services, "agreement_notice")
    done = await client.post(url, json={"reason": "受让方放弃受让"}, headers=ctx["inst"]["headers"])
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    records = await _records(services, "agreement_notice")
    assert records[0] == original  # never edited
    assert records[1]["corrects"] == original["seq"]
    assert records[1]["body"]["status"] == "withdrawn" and records[1]["body"]["correction_reason"] == "受让方放弃受让"
    assert (await client.post(url, json={"reason": "again"}, headers=ctx["inst"]["headers"])).status_code == 409
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 0}
    # the achievement is free again: a new notice may follow
    assert (await client.post("/api/agreements", json=_notice(ctx["achievement_id"]),
                              headers=ctx["inst"]["headers"])).status_code == 201


async def test_dealt_notice_can_no_longer_be_withdrawn(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    await _past_the_end(services, clock, notice)
    await services.agreements.sweep()
    refused = await client.post(f"/api/agreements/{notice['id']}/withdraw", json={"reason": "too late"},
                                headers=ctx["inst"]["headers"])
    assert refused.status_code == 409
    assert (await client.get(f"/api/agreements/{notice['id']}")).json()["status"] == "dealt"


# -- deadlines and verification ------------------------------------------------------------------------

async def test_notice_that_ended_while_the_exchange_was_down_is_applied_at_start(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    clock.advance(timedelta(days=40))  # the exchange was down the whole time
    restarted = AgreementService(services.pool, clock, services.calendar, services.trades)
    assert await restarted.sweep() == {"dealt": 1}  # the pass `start()` runs first
    assert await restarted.sweep() == {"dealt": 0}  # applied once
    assert await _count(services, "trades") == 1
    view = (await client.get(f"/api/agreements/{notice['id']}")).json()
    assert view["status"] == "dealt" and view["window"] == "closed"


async def test_published_agreement_records_verify_and_map_to_ocds(
        client: httpx.AsyncClient, services: Services, clock: FixedClock, ctx: dict[str, Any]) -> None:
    notice = await _publish(client, ctx)
    filed = (await _object(client, notice["id"], ctx["objector"]["headers"])).json()
    await _answer(client, ctx, notice["id"], filed["id"], "dismissed")
    other = await _publish(client, ctx, achievement_id=await _achievement(client, ctx["inst"]["headers"]))
    await client.post(f"/api/agreements/{other['id']}/withdraw", json={"reason": "撤回"}, headers=ctx["inst"]["headers"])
    await _past_the_end(services, clock, notice)
    assert await services.agreements.sweep() == {"dealt": 1}
    async with services.pool.acquire() as conn:
        report = await verify(conn)
    assert report.ok and report.records == len(await _records(services))
    package = await client.get(f"/api/disclosures/ocds/{notice['reference_no']}")
    assert package.status_code == 200, package.text
    assert ocds_problems(package.json()) == []
    releases = package.json()["releases"]
    assert [r["tag"] for r in releases] == [["tender"], ["tenderUpdate"], ["tenderUpdate"], ["award"]]
    assert releases[0]["tender"]["procurementMethod"] == "limited"
    assert releases[1]["tender"]["enquiries"][0]["answer"]
    async with services.pool.acquire() as conn:  # a superuser's hand edit of the noticed price
        await conn.execute("ALTER TABLE disclosures DISABLE TRIGGER disclosures_no_update_or_delete")
        await conn.execute("UPDATE disclosures SET body = jsonb_set(body, '{price}', '1') WHERE kind = 'agreement_notice' "
                           "AND corrects IS NULL AND subject = $1", notice["reference_no"])
        await conn.execute("ALTER TABLE disclosures ENABLE TRIGGER disclosures_no_update_or_delete")
        tampered = await verify(conn)
    assert not tampered.ok and tampered.broken_seq == releases[0]["disclosure"]["seq"]


# -- pages ----------------------------------------------------------------------------------------------

@pytest.fixture
async def browser(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A second client of the same app holding a login session, as a browser would."""
    transport = httpx.ASGITransport(app=create_app(services), client=("203.0.113.8", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as session:
        yield session


async def _login(session: httpx.AsyncClient, email: str) -> None:
    page = await session.get("/login")
    answer = await session.post("/login", data={"email": email, "password": PASSWORD, "_csrf": csrf_from(page.text),
                                                "next": "/account"}, follow_redirects=True)
    assert answer.status_code == 200


async def test_agreement_pages_publish_object_and_answer(
        browser: httpx.AsyncClient, client: httpx.AsyncClient, services: Services, ctx: dict[str, Any]) -> None:
    await _login(browser, "tto@north.test")
    form = await browser.get(f"/agreements/new?achievement={ctx['achievement_id']}&lang=en")
    assert form.status_code == 200 and 'id="agreement-form"' in form.text
    data = {"_csrf": csrf_from(form.text), "achievement_id": str(ctx["achievement_id"]),
            "buyer_email": "vc@capital.test", "price": "99", "transfer_mode": "assignment", "notice_days": "15"}
    low = await browser.post("/agreements/new", data=data)
    assert low.status_code == 422 and "appraised value" in low.text
    assert await _count(services, "agreements") == 0
    made = await browser.post("/agreements/new", data=data | {"price": "1,100,000"}, follow_redirects=False)
    assert made.status_code == 303
    detail_url = made.headers["location"]
    page = await browser.get(detail_url + "?lang=en")
    assert "Objections until" in page.text and "¥1,100,000.00" in page.text
    assert 'id="file-objection"' not in page.text  # the seller cannot object
    listing = await browser.get("/agreements")
    assert detail_url in listing.text
    browser.cookies.clear()
    await _login(browser, "objector@fund.test")
    page = await browser.get(detail_url)
    objected = await browser.post(detail_url + "/object", data={"_csrf": csrf_from(page.text), "grounds": "定价依据不足"},
                                  follow_redirects=True)
    assert objected.status_code == 200 and "定价依据不足" in objected.text
    browser.cookies.clear()
    await _login(browser, "op@exchange.test")
    page = await browser.get(detail_url + "?lang=en")
    assert "Watch Fund" in page.text and 'class="small dismiss"' in page.text
    objection_id = re.search(r'name="objection" value="(\d+)"', page.text)
    assert objection_id is not None
    answered = await browser.post(detail_url + "/answer", data={
        "_csrf": csrf_from(page.text), "objection": objection_id.group(1), "outcome": "dismissed", "answer": "不成立"},
        follow_redirects=True)
    assert answered.status_code == 200 and "不成立" in answered.text
    public = await client.get(detail_url)
    assert "定价依据不足" in public.text and "Watch Fund" not in public.text


# -- the demo ------------------------------------------------------------------------------------------

async def test_demo_publishes_one_agreement_notice_and_restarts_leave_it_to_run(
    services: Services, clock: FixedClock
) -> None:
    await load_demo(services)
    first = await ensure_demo_agreement(services)
    assert first is not None
    assert await ensure_demo_agreement(services) is None  # a restart while it runs: nothing new
    view = await services.agreements.agreement(None, first)
    assert view["status"] == "noticed" and view["window"] == "open" and view["buyer_name"]
    clock.set(_end(view))
    assert await services.agreements.sweep() == {"dealt": 1}
    assert await ensure_demo_agreement(services) is None  # after it dealt: the same patent is not sold twice
    assert [a["id"] for a in await services.agreements.agreements(None)] == [first]
