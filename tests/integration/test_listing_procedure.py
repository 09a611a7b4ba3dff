"""The listing procedure after the announcement (DOMAIN.md "Listing" points 4-7), over the JSON API:
intents during the period, qualification against the published conditions within 5 working
days, deposits within 3, the outcome by the number of qualified, deposited buyers, the one
buyer's agreement, relisting, and an English auction among exactly the deposited buyers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from exchange.accounts.types import Account
from exchange.clock import FixedClock
from exchange.demo.listing_procedure import ensure_demo_procedure
from exchange.demo.loader import load_demo
from exchange.errors import Conflict
from exchange.listings.types import ProcedureRules
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from tests.integration.conftest_auctions import spec
from tests.integration.helpers import (
    PASSWORD,
    achievement_body,
    csrf_from,
    listing_body,
    register,
    token_for,
)

CONDITIONS = "依法设立的企业法人。\n注册资本不低于 1000 万元。\n具有锂电池生产经验。"
PRICE = 120_000_00
APPRAISAL = 100_000_00
DEPOSIT = 12_000_00

Headers = dict[str, str]


async def listing_of(client: httpx.AsyncClient, parties: dict[str, Any], *, title: str = "正极材料",
                     **overrides: Any) -> int:
    """An announced listing of the North University's; conditions numbered 1 to 3."""
    achievement = await client.post("/api/achievements", headers=parties["inst"]["headers"],
                                    json=achievement_body(title=title))
    assert achievement.status_code == 201, achievement.text
    body = listing_body(achievement.json()["id"], bidder_conditions=CONDITIONS) | overrides
    listing = await client.post("/api/listings", headers=parties["inst"]["headers"], json=body)
    assert listing.status_code == 201, listing.text
    listing_id: int = listing.json()["id"]
    approved = await client.post(f"/api/listings/{listing_id}/review", headers=parties["operator"]["headers"],
                                 json={"decision": "approve"})
    assert approved.status_code == 200, approved.text
    return listing_id


async def investors(client: httpx.AsyncClient, count: int) -> list[tuple[int, Headers]]:
    found = []
    for n in range(count):
        account = await register(client, "investor", f"buyer{n}@fund.test", f"Fund {n}")
        found.append((account["id"], await token_for(client, f"buyer{n}@fund.test")))
    return found


async def procedure(client: httpx.AsyncClient, listing_id: int, headers: Headers | None = None) -> dict[str, Any]:
    response = await client.get(f"/api/listings/{listing_id}/procedure", headers=headers or {})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def intend(client: httpx.AsyncClient, listing_id: int, headers: Headers) -> httpx.Response:
    return await client.post(f"/api/listings/{listing_id}/intents", headers=headers,
                             json={"statement": "我司为依法设立的企业法人，注册资本 5000 万元，具有电池产线。"})


async def end_period(services: Services, clock: FixedClock, client: httpx.AsyncClient, listing_id: int) -> None:
    listing = (await client.get(f"/api/listings/{listing_id}")).json()
    end = listing["announcement_end"]
    clock.set(datetime.fromisoformat(end) + timedelta(seconds=1))
    await services.procedure.sweep()


async def decide(client: httpx.AsyncClient, parties: dict[str, Any], listing_id: int, intent_id: int,
                 **body: Any) -> httpx.Response:
    return await client.post(f"/api/listings/{listing_id}/intents/{intent_id}/decision",
                             headers=parties["operator"]["headers"], json={"decision": "qualify"} | body)


async def operator(services: Services) -> Account:
    return await services.accounts.by_email("op@exchange.test")


async def pay(services: Services, deposit: dict[str, Any]) -> None:
    await services.settlement.confirm_bank_transfer(await operator(services), BankTransfer(
        reference_code=deposit["reference_code"], amount=deposit["amount"],
        statement_ref=f"STMT-{deposit['reference_code']}"))


async def qualified_buyers(services: Services, clock: FixedClock, client: httpx.AsyncClient,
                           parties: dict[str, Any], listing_id: int, buyers: list[tuple[int, Headers]],
                           paying: int) -> dict[str, Any]:
    """Each buyer registers intent; the period ends; all are qualified; the first `paying` pay."""
    for _, headers in buyers:
        assert (await intend(client, listing_id, headers)).status_code == 201
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    for intent in view["intents"]:
        assert (await decide(client, parties, listing_id, intent["id"])).status_code == 200
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    for intent in view["intents"][:paying]:
        await pay(services, intent["deposit"])
    await services.procedure.sweep()
    return await procedure(client, listing_id, parties["operator"]["headers"])


async def outcome_records(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/api/disclosures", params={"kind": "listing_outcome"})
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[Services]:
    """The auction engine running, for the tests that hold an auction."""
    await services.auctions.start()
    yield services
    await services.auctions.stop()


# -- intents ------------------------------------------------------------------------------

async def test_intent_is_registered_only_during_the_announcement_period(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    investor = parties["investor"]["headers"]
    empty = await client.post(f"/api/listings/{listing_id}/intents", headers=investor, json={"statement": "  "})
    assert empty.status_code == 422 and "statement" in empty.json()["errors"]
    assert (await procedure(client, listing_id, investor))["my_intent"] is None
    assert (await intend(client, listing_id, parties["inst"]["headers"])).status_code == 403  # the seller
    assert (await intend(client, listing_id, parties["operator"]["headers"])).status_code == 403
    assert (await intend(client, listing_id, {})).status_code == 401
    assert (await intend(client, listing_id, investor)).status_code == 201
    assert (await intend(client, listing_id, investor)).status_code == 409  # once
    withdrawn = await client.post(f"/api/listings/{listing_id}/intents/withdraw", headers=investor)
    assert withdrawn.status_code == 200 and withdrawn.json()["my_intent"]["status"] == "withdrawn"
    again = await intend(client, listing_id, investor)
    assert again.status_code == 201 and again.json()["my_intent"]["status"] == "registered"
    await end_period(services, clock, client, listing_id)
    late = await intend(client, listing_id, (await investors(client, 1))[0][1])
    assert late.status_code == 409 and "announcement period" in late.json()["detail"]
    late_withdrawal = await client.post(f"/api/listings/{listing_id}/intents/withdraw", headers=investor)
    assert late_withdrawal.status_code == 409
    assert (await procedure(client, listing_id, investor))["my_intent"]["status"] == "registered"


async def test_intent_cannot_be_registered_before_the_listing_is_announced(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    achievement = await client.post("/api/achievements", headers=parties["inst"]["headers"], json=achievement_body())
    listing = await client.post("/api/listings", headers=parties["inst"]["headers"],
                                json=listing_body(achievement.json()["id"]))
    response = await intend(client, listing.json()["id"], parties["investor"]["headers"])
    assert response.status_code == 404


# -- qualification ------------------------------------------------------------------------

async def test_qualification_follows_the_period_and_is_due_within_5_working_days(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    assert (await intend(client, listing_id, parties["investor"]["headers"])).status_code == 201
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    early = await decide(client, parties, listing_id, view["intents"][0]["id"])
    assert early.status_code == 409 and "after the announcement period" in early.json()["detail"]
    await services.procedure.sweep()
    assert (await procedure(client, listing_id))["status"] == "announced"
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    listing = (await client.get(f"/api/listings/{listing_id}")).json()
    expected = services.calendar.period_end(datetime.fromisoformat(listing["announcement_end"]), 5)
    assert view["status"] == "qualifying"
    assert datetime.fromisoformat(view["qualification_due"]) == expected
    clock.set(expected + timedelta(seconds=1))
    late = await decide(client, parties, listing_id, view["intents"][0]["id"])
    assert late.status_code == 409 and "due" in late.json()["detail"]


async def test_refusal_names_the_published_conditions_not_met_with_reasons(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    assert (await intend(client, listing_id, parties["investor"]["headers"])).status_code == 201
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    assert view["conditions"] == CONDITIONS.split("\n")
    intent_id = view["intents"][0]["id"]
    bad = [
        ({"decision": "refuse", "unmet_conditions": [2]}, "reasons"),
        ({"decision": "refuse", "reasons": "资本不足"}, "unmet_conditions"),
        ({"decision": "refuse", "reasons": "不合格", "unmet_conditions": [4]}, "unmet_conditions"),
        ({"decision": "refuse", "reasons": "不合格", "unmet_conditions": [2, 2]}, "unmet_conditions"),
        ({"decision": "qualify", "unmet_conditions": [1]}, "unmet_conditions"),
        ({"decision": "maybe"}, "decision"),
    ]
    for body, field in bad:
        response = await decide(client, parties, listing_id, intent_id, **body)
        assert response.status_code == 422, body
        assert field in response.json()["errors"], (body, response.json())
    for headers in (parties["inst"]["headers"], parties["investor"]["headers"]):
        forbidden = await client.post(f"/api/listings/{listing_id}/intents/{intent_id}/decision", headers=headers,
                                      json={"decision": "qualify"})
        assert forbidden.status_code == 403
    assert (await procedure(client, listing_id, parties["operator"]["headers"]))["intents"][0]["status"] == "registered"
    refused = await decide(client, parties, listing_id, intent_id, decision="refuse",
                           reasons="注册资本 500 万元，低于公布的条件。", unmet_conditions=[2])
    assert refused.status_code == 200
    mine = (await procedure(client, listing_id, parties["investor"]["headers"]))["my_intent"]
    assert mine["status"] == "refused" and mine["unmet_conditions"] == [2] and mine["deposit"] is None
    again = await decide(client, parties, listing_id, intent_id)
    assert again.status_code == 409


async def test_institution_may_comment_on_each_intent_until_qualification_is_due(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    (first, first_headers), (second, second_headers) = await investors(client, 2)
    for headers in (first_headers, second_headers):
        assert (await intend(client, listing_id, headers)).status_code == 201
    own = await procedure(client, listing_id, first_headers)
    assert len(own["intents"]) == 1 and own["intents"][0]["investor_name"] is None  # only its own
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id, parties["inst"]["headers"])
    assert {i["investor_id"] for i in view["intents"]} == {first, second}
    intent_id = view["intents"][0]["id"]
    url = f"/api/listings/{listing_id}/intents/{intent_id}/comment"
    assert (await client.post(url, headers=parties["inst"]["headers"], json={"comment": ""})).status_code == 422
    assert (await client.post(url, headers=parties["other_inst"]["headers"], json={"comment": "x"})).status_code == 404
    assert (await client.post(url, headers=first_headers, json={"comment": "x"})).status_code == 403
    commented = await client.post(url, headers=parties["inst"]["headers"], json={"comment": "该企业曾为我校合作方。"})
    assert commented.status_code == 200
    seen = await procedure(client, listing_id, parties["operator"]["headers"])
    assert seen["intents"][0]["comment"] == "该企业曾为我校合作方。"
    clock.set(clock.now().replace(year=clock.now().year + 1))
    late = await client.post(url, headers=parties["inst"]["headers"], json={"comment": "补充"})
    assert late.status_code == 409


# -- deposits and the outcome ----------------------------------------------------------------

async def test_qualified_buyer_pays_the_deposit_within_3_working_days_or_loses_the_right_to_bid(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties, deposit=DEPOSIT)
    buyers = await investors(client, 2)
    for _, headers in buyers:
        assert (await intend(client, listing_id, headers)).status_code == 201
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    for intent in view["intents"]:
        assert (await decide(client, parties, listing_id, intent["id"])).status_code == 200
    decided_at = clock.now()
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    for intent in view["intents"]:
        assert intent["deposit"]["amount"] == DEPOSIT and intent["deposit"]["status"] == "due"
        assert datetime.fromisoformat(intent["deposit"]["due_at"]) == services.calendar.period_end(decided_at, 3)
    await pay(services, view["intents"][0]["deposit"])
    await services.procedure.sweep()
    assert (await procedure(client, listing_id))["status"] == "qualifying"  # the second may still pay
    clock.set(services.calendar.period_end(decided_at, 3) + timedelta(seconds=1))
    late = view["intents"][1]["deposit"]
    with pytest.raises(Exception, match="was due by"):
        await pay(services, late)
    await services.procedure.sweep()
    after = await procedure(client, listing_id, parties["operator"]["headers"])
    assert after["status"] == "agreement" and after["counts"]["deposited"] == 1
    assert after["intents"][1]["deposit"]["status"] == "lapsed"
    assert (await procedure(client, listing_id, buyers[0][1]))["can"]["confirm"] is True
    assert (await procedure(client, listing_id, buyers[1][1]))["can"]["confirm"] is False


async def test_no_qualified_deposited_buyer_leaves_the_listing_unsold(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    await end_period(services, clock, client, listing_id)
    view = await procedure(client, listing_id)
    assert view["status"] == "unsold" and view["qualification_due"] is not None
    assert view["relist_floor"] == APPRAISAL * 9 // 10
    record = next(r for r in await outcome_records(client) if r["procedure"] == view["reference_no"])
    assert record["body"]["outcome"] == "unsold" and record["body"]["intents"] == 0
    assert record["body"]["relist_floor"] == APPRAISAL * 9 // 10
    page = await client.get(f"/disclosures/{record['seq']}", params={"lang": "en"})
    assert page.status_code == 200 and "Listing outcome" in page.text


async def test_one_buyer_confirms_a_quote_at_or_above_the_listing_price(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties, deposit=DEPOSIT)
    buyers = await investors(client, 2)
    view = await qualified_buyers(services, clock, client, parties, listing_id, buyers[:1], paying=1)
    assert view["status"] == "agreement"
    assert datetime.fromisoformat(view["agreement_due"]) == services.calendar.period_end(
        clock.now(), services.settlement.rules.contract_wd)
    record = next(r for r in await outcome_records(client) if r["procedure"] == view["reference_no"])
    assert record["body"]["outcome"] == "agreement" and record["body"]["qualified_and_deposited"] == 1
    assert "Fund" not in str(record["body"])  # buyers are anonymous
    url = f"/api/listings/{listing_id}/agreement"
    below = await client.post(url, headers=buyers[0][1], json={"quote": PRICE - 1})
    assert below.status_code == 422 and "quote" in below.json()["errors"]
    assert (await client.post(url, headers=buyers[1][1], json={"quote": PRICE})).status_code == 403
    assert (await client.post(url, headers=parties["inst"]["headers"], json={"quote": PRICE})).status_code == 403
    unchanged = await procedure(client, listing_id, parties["operator"]["headers"])
    assert unchanged["status"] == "agreement" and unchanged["trades"] == []
    confirmed = await client.post(url, headers=buyers[0][1], json={"quote": PRICE + 500_00})
    assert confirmed.status_code == 201, confirmed.text
    trade = (await client.get(f"/api/trades/{confirmed.json()['trade_id']}", headers=buyers[0][1])).json()
    assert trade["method"] == "listing_agreement" and trade["price"] == PRICE + 500_00
    assert trade["deposit_applied"] == DEPOSIT and trade["status"] == "awaiting_contract"
    assert (await procedure(client, listing_id))["status"] == "dealt"


async def test_agreement_not_confirmed_in_time_forfeits_the_deposit_and_leaves_the_listing_unsold(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties, deposit=DEPOSIT)
    buyers = await investors(client, 1)
    view = await qualified_buyers(services, clock, client, parties, listing_id, buyers, paying=1)
    clock.set(datetime.fromisoformat(view["agreement_due"]) + timedelta(seconds=1))
    late = await client.post(f"/api/listings/{listing_id}/agreement", headers=buyers[0][1], json={"quote": PRICE})
    assert late.status_code == 409
    await services.procedure.sweep()
    after = await procedure(client, listing_id, parties["operator"]["headers"])
    assert after["status"] == "unsold" and after["can"]["relist"] is False
    assert after["intents"][0]["deposit"]["status"] == "forfeited"
    trade = (await client.get(f"/api/trades/{after['trades'][0]['id']}", headers=parties["operator"]["headers"])).json()
    assert trade["status"] == "forfeited" and trade["forfeit_reason"] == "the buyer did not confirm the agreement quote in time"
    assert (await procedure(client, listing_id, parties["inst"]["headers"]))["can"]["relist"] is True
    async with services.pool.acquire() as conn:  # no deal was made: nothing announces one
        kinds = [r["kind"] for r in await conn.fetch(
            "SELECT kind FROM disclosures WHERE procedure = (SELECT reference_no FROM listings WHERE id = $1)",
            listing_id)]
    assert "deal_announcement" not in kinds and "listing_outcome" in kinds


@pytest.mark.parametrize("method", ["english_auction", "sealed_quote", "weighted_quote"])
async def test_two_or_more_buyers_compete_by_the_method_chosen_at_listing(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock, method: str,
) -> None:
    listing_id = await listing_of(client, parties, competitive_method=method, price_weight_bp=7000)
    view = await qualified_buyers(services, clock, client, parties, listing_id, await investors(client, 2), paying=2)
    assert view["status"] == "competition" and view["counts"]["deposited"] == 2  # no deposit asked: qualified is enough
    assert view["can"]["schedule_auction"] is (method == "english_auction")
    assert (await client.get(f"/api/listings/{listing_id}")).json()["price_weight_bp"] == 7000
    record = next(r for r in await outcome_records(client) if r["procedure"] == view["reference_no"])
    assert record["body"]["outcome"] == "competition" and record["body"]["method"] == method


async def test_price_weight_of_a_weighted_quote_is_10_to_100_percent(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    achievement = await client.post("/api/achievements", headers=parties["inst"]["headers"], json=achievement_body())
    for weight in (999, 10_001):
        response = await client.post("/api/listings", headers=parties["inst"]["headers"], json=listing_body(
            achievement.json()["id"], competitive_method="weighted_quote", price_weight_bp=weight))
        assert response.status_code == 422 and "price_weight_bp" in response.json()["errors"]
    default = await client.post("/api/listings", headers=parties["inst"]["headers"],
                                json=listing_body(achievement.json()["id"], competitive_method="weighted_quote"))
    assert default.status_code == 201 and default.json()["price_weight_bp"] == 6000


# -- relisting ------------------------------------------------------------------------------

async def test_relisting_may_go_down_to_90_percent_of_the_appraisal_lower_with_operator_approval(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    at_floor = await listing_of(client, parties, title="第一项")
    below = await listing_of(client, parties, title="第二项")
    for listing_id in (at_floor, below):
        await end_period(services, clock, client, listing_id)
        assert (await procedure(client, listing_id))["status"] == "unsold"
    inst, op = parties["inst"]["headers"], parties["operator"]["headers"]

    async def relist(listing_id: int, price: int, headers: Headers = inst) -> httpx.Response:
        old = (await client.get(f"/api/listings/{listing_id}", headers=inst)).json()
        return await client.post(f"/api/listings/{listing_id}/relist", headers=headers,
                                 json=listing_body(old["achievement_id"], listing_price=price))

    assert (await relist(at_floor, APPRAISAL * 9 // 10, parties["other_inst"]["headers"])).status_code == 404
    zero = await relist(at_floor, 0)
    assert zero.status_code == 422 and (await procedure(client, at_floor))["status"] == "unsold"
    first = await relist(at_floor, APPRAISAL * 9 // 10)
    assert first.status_code == 201, first.text
    assert first.json()["relisted_from"] == at_floor and first.json()["status"] == "submitted"
    assert (await procedure(client, at_floor))["status"] == "relisted"
    assert (await relist(at_floor, APPRAISAL)).status_code == 409  # relisted once
    flagged = await client.post(f"/api/listings/{first.json()['id']}/review", headers=op,
                                json={"decision": "approve", "approve_below_floor": True})
    assert flagged.status_code == 422 and "approve_below_floor" in flagged.json()["errors"]
    approved = await client.post(f"/api/listings/{first.json()['id']}/review", headers=op, json={"decision": "approve"})
    assert approved.status_code == 200 and approved.json()["below_floor_approved_by"] is None

    second = await relist(below, APPRAISAL * 9 // 10 - 1)
    assert second.status_code == 201, second.text
    plain = await client.post(f"/api/listings/{second.json()['id']}/review", headers=op, json={"decision": "approve"})
    assert plain.status_code == 422 and "approve_below_floor" in plain.json()["errors"]
    assert (await client.get(f"/api/listings/{second.json()['id']}", headers=op)).json()["status"] == "submitted"
    explicit = await client.post(f"/api/listings/{second.json()['id']}/review", headers=op,
                                 json={"decision": "approve", "approve_below_floor": True})
    assert explicit.status_code == 200 and explicit.json()["status"] == "announced"
    assert explicit.json()["below_floor_approved_by"] == (await operator(services)).id


async def test_relisting_floor_and_qualification_period_are_exchange_settings(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    rules = ProcedureRules(qualification_wd=3, relist_floor_bp=8_000)
    services.listings.rules = services.procedure.rules = rules
    listing_id = await listing_of(client, parties)
    assert (await intend(client, listing_id, parties["investor"]["headers"])).status_code == 201
    end = datetime.fromisoformat((await procedure(client, listing_id))["announcement_end"])
    clock.set(end + timedelta(seconds=1))
    await services.procedure.sweep()
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    assert datetime.fromisoformat(view["qualification_due"]) == services.calendar.period_end(end, 3)
    clock.set(datetime.fromisoformat(view["qualification_due"]) + timedelta(seconds=1))
    await services.procedure.sweep()
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    assert view["status"] == "unsold" and view["relist_floor"] == APPRAISAL * 8 // 10
    inst, op = parties["inst"]["headers"], parties["operator"]["headers"]
    old = (await client.get(f"/api/listings/{listing_id}", headers=inst)).json()
    relisted = await client.post(f"/api/listings/{listing_id}/relist", headers=inst,
                                 json=listing_body(old["achievement_id"], listing_price=APPRAISAL * 85 // 100))
    assert relisted.status_code == 201, relisted.text
    approved = await client.post(f"/api/listings/{relisted.json()['id']}/review", headers=op, json={"decision": "approve"})
    assert approved.status_code == 200, approved.text  # 85% is above this exchange's 80% floor: no approval asked


async def test_first_listing_still_requires_the_appraised_value(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    achievement = await client.post("/api/achievements", headers=parties["inst"]["headers"], json=achievement_body())
    response = await client.post("/api/listings", headers=parties["inst"]["headers"],
                                 json=listing_body(achievement.json()["id"], listing_price=APPRAISAL * 9 // 10))
    assert response.status_code == 422 and "listing_price" in response.json()["errors"]


async def test_only_an_unsold_listing_is_relisted(
    client: httpx.AsyncClient, parties: dict[str, Any],
) -> None:
    listing_id = await listing_of(client, parties)
    old = (await client.get(f"/api/listings/{listing_id}")).json()
    response = await client.post(f"/api/listings/{listing_id}/relist", headers=parties["inst"]["headers"],
                                 json=listing_body(old["achievement_id"]))
    assert response.status_code == 409


# -- the English auction of a competition ------------------------------------------------------

async def test_english_auction_admits_exactly_the_deposited_buyers_and_carries_their_deposits(
    client: httpx.AsyncClient, parties: dict[str, Any], engine: Services, clock: FixedClock,
) -> None:
    services = engine
    listing_id = await listing_of(client, parties, deposit=DEPOSIT)
    buyers = await investors(client, 3)
    view = await qualified_buyers(services, clock, client, parties, listing_id, buyers, paying=2)
    decided = [i for i in view["intents"] if i["deposit"]["status"] == "due"]
    assert view["status"] == "qualifying" and len(decided) == 1
    clock.set(clock.now() + timedelta(days=10))  # the third deposit lapses
    await services.procedure.sweep()
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    assert view["status"] == "competition" and view["counts"]["deposited"] == 2
    op = await operator(services)
    scheduled = await client.post("/api/auctions/", headers=parties["operator"]["headers"], json={
        "listing_id": listing_id, "start_price": PRICE, "increment": 1_000_00,
        "opens_at": (clock.now() + timedelta(minutes=1)).isoformat(),
        "scheduled_end": (clock.now() + timedelta(hours=1)).isoformat()})
    assert scheduled.status_code == 201, scheduled.text
    auction_id = scheduled.json()["auction_id"]
    bidders = {b["account_id"] for b in await services.auctions.bidders(op, auction_id)}
    paid = {buyers[0][0], buyers[1][0]}
    assert bidders == paid
    lapsed_buyer = buyers[2][0]
    stranger = await register(client, "investor", "stranger@fund.test")
    for investor_id in (lapsed_buyer, stranger["id"]):
        refused = await client.post(f"/api/auctions/{auction_id}/bidders", headers=parties["operator"]["headers"],
                                    json={"investor_id": investor_id})
        assert refused.status_code == 409, refused.text
    again = await client.post(f"/api/auctions/{auction_id}/bidders", headers=parties["operator"]["headers"],
                              json={"investor_id": buyers[0][0]})
    assert again.status_code == 201 and again.json()["deposit"]["status"] == "held"  # the same deposit
    assert {b["account_id"] for b in await services.auctions.bidders(op, auction_id)} == paid
    clock.advance(timedelta(minutes=1))
    await services.auctions.fire_due()
    winner, loser = buyers[1], buyers[0]
    accepted = await client.post(f"/api/lots/{auction_id}/bids", headers=winner[1] | {"Idempotency-Key": "bid-1"},
                                 json={"kind": "bid", "amount": PRICE + 1_000_00})
    assert accepted.status_code in (200, 201), accepted.text
    clock.advance(timedelta(hours=2))
    assert await services.auctions.fire_due() == [auction_id]
    await services.procedure.sweep()
    after = await procedure(client, listing_id, parties["operator"]["headers"])
    assert after["status"] == "dealt"
    deposits = {i["investor_id"]: i["deposit"] for i in after["intents"]}
    assert deposits[winner[0]]["status"] == "applied" and deposits[winner[0]]["auction_id"] == auction_id
    assert deposits[loser[0]]["status"] == "released"
    assert deposits[lapsed_buyer]["status"] == "lapsed"
    trade = (await client.get(f"/api/trades/{after['trades'][0]['id']}", headers=winner[1])).json()
    assert trade["deposit_applied"] == DEPOSIT and trade["method"] == "english_auction"


async def test_failed_auction_of_a_competition_leaves_the_listing_unsold(
    client: httpx.AsyncClient, parties: dict[str, Any], engine: Services, clock: FixedClock,
) -> None:
    services = engine
    listing_id = await listing_of(client, parties)
    await qualified_buyers(services, clock, client, parties, listing_id, await investors(client, 2), paying=2)
    auction = await services.auctions.schedule(await operator(services), listing_id, spec(clock.now()))
    clock.advance(timedelta(hours=2))
    await services.auctions.fire_due()
    await services.procedure.sweep()
    assert auction["auction_id"] and (await procedure(client, listing_id))["status"] == "unsold"


async def test_listing_sold_by_the_operators_direct_auction_keeps_its_path(
    client: httpx.AsyncClient, parties: dict[str, Any], engine: Services, clock: FixedClock,
) -> None:
    services = engine
    listing_id = await listing_of(client, parties)
    await services.auctions.schedule(await operator(services), listing_id, spec(clock.now()))
    refused = await intend(client, listing_id, parties["investor"]["headers"])
    assert refused.status_code == 409
    await end_period(services, clock, client, listing_id)
    assert (await procedure(client, listing_id))["status"] == "announced"
    auction_id = (await services.auctions.list_auctions(listing_id=listing_id))[0]["auction_id"]
    qualified = await services.settlement.qualify(await operator(services), auction_id,
                                                  parties["investor"]["account"]["id"])
    assert qualified["deposit"]["status"] == "due"  # qualified by the operator as before the procedure


async def test_a_listing_with_registered_intents_gets_no_direct_auction(
    client: httpx.AsyncClient, parties: dict[str, Any], engine: Services, clock: FixedClock,
) -> None:
    services = engine
    listing_id = await listing_of(client, parties)
    assert (await intend(client, listing_id, parties["investor"]["headers"])).status_code == 201
    with pytest.raises(Conflict, match="sold through its procedure"):
        await services.auctions.schedule(await operator(services), listing_id, spec(clock.now()))
    assert await services.auctions.list_auctions(listing_id=listing_id) == []
    page = await client.get(f"/listings/{listing_id}?lang=en", headers=parties["operator"]["headers"])
    assert page.status_code == 200 and 'id="schedule-auction"' not in page.text  # no link to a refused step
    withdrawn = await client.post(f"/api/listings/{listing_id}/intents/withdraw", headers=parties["investor"]["headers"])
    assert withdrawn.status_code == 200, withdrawn.text
    page = await client.get(f"/listings/{listing_id}?lang=en", headers=parties["operator"]["headers"])
    assert 'id="schedule-auction"' in page.text
    auction = await services.auctions.schedule(await operator(services), listing_id, spec(clock.now()))
    assert auction["status"] == "scheduled"  # with no intent left, the direct path is open again


# -- deadlines while down -------------------------------------------------------------------

async def test_deadlines_passed_while_the_exchange_was_down_apply_at_the_first_sweep(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties, deposit=DEPOSIT)
    assert (await intend(client, listing_id, parties["investor"]["headers"])).status_code == 201
    clock.advance(timedelta(days=120))  # the period, the qualification and any deposit long over
    counts = await services.procedure.sweep()
    assert counts["ended"] == 1
    view = await procedure(client, listing_id, parties["investor"]["headers"])
    assert view["status"] == "unsold" and view["my_intent"]["status"] == "undecided_in_time"
    assert (await decide(client, parties, listing_id, view["my_intent"]["id"])).status_code == 409


async def test_new_statuses_are_public_with_a_badge_in_the_catalogue(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    await end_period(services, clock, client, listing_id)
    assert (await client.get(f"/api/listings/{listing_id}")).json()["status"] == "unsold"
    page = await client.get(f"/listings/{listing_id}")
    assert page.status_code == 200 and 'badge unsold' in page.text
    catalogue = await client.get("/api/catalogue", params={"q": "正极材料"})
    assert catalogue.status_code == 200 and listing_id in [i["id"] for i in catalogue.json()["items"]]
    html = await client.get("/", params={"q": "正极材料"})
    assert "badge unsold" in html.text


async def test_demo_offers_a_listing_whose_announcement_period_a_visitor_can_join(
    services: Services, clock: FixedClock,
) -> None:
    await load_demo(services)
    listing_id = await ensure_demo_procedure(services)
    assert listing_id is not None
    assert await ensure_demo_procedure(services) is None  # idempotent while it is under way
    visitor = await services.accounts.by_email("investor@capital.demo")
    view = await services.procedure.procedure(visitor, listing_id)
    assert view["status"] == "announced" and view["counts"]["intents"] == 1 and view["can"]["register"]
    end = datetime.fromisoformat(view["announcement_end"])
    assert clock.now() < end < clock.now() + timedelta(days=20)  # not the full 20 working days from now
    clock.set(end + timedelta(seconds=1))
    await services.procedure.sweep()
    assert (await services.procedure.procedure(visitor, listing_id))["status"] == "qualifying"


# -- the pages --------------------------------------------------------------------------------

async def _form(client: httpx.AsyncClient, page_path: str, action: str, form: dict[str, str]) -> httpx.Response:
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data=form | {"_csrf": csrf_from(page.text)}, follow_redirects=False)


async def _login(client: httpx.AsyncClient, email: str) -> None:
    await _form(client, "/login", "/logout", {})
    answer = await _form(client, "/login", "/login", {"email": email, "password": PASSWORD, "next": "/account"})
    assert answer.status_code == 303, answer.text


async def test_investor_registers_intent_on_the_listing_page_and_the_operator_refuses_against_numbered_conditions(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    page, action = f"/listings/{listing_id}", f"/listings/{listing_id}/procedure"
    anonymous = await client.get(page)
    assert 'id="register-intent"' not in anonymous.text
    await _login(client, "vc@capital.test")
    assert 'id="register-intent"' in (await client.get(page)).text
    empty = await _form(client, page, f"{action}/intent", {"statement": "", "back": "listing"})
    assert empty.status_code == 422 and "statement" in empty.text and 'id="register-intent"' in empty.text
    registered = await _form(client, page, f"{action}/intent", {"statement": "注册资本 5000 万元。", "back": "listing"})
    assert registered.status_code == 303 and registered.headers["location"] == page
    assert 'data-status="registered"' in (await client.get(page)).text
    assert (await client.get(action)).status_code == 200  # an investor sees its own intent there

    await end_period(services, clock, client, listing_id)
    await _login(client, "op@exchange.test")
    staff_page = await client.get(action)
    assert "注册资本 5000 万元。" in staff_page.text and 'name="condition_3"' in staff_page.text
    intent_id = (await procedure(client, listing_id, parties["operator"]["headers"]))["intents"][0]["id"]
    unexplained = await _form(client, action, f"{action}/decide", {
        "intent": str(intent_id), "decision": "refuse", "condition_2": "1", "reasons": ""})
    assert unexplained.status_code == 422 and "reasons" in unexplained.text
    refused = await _form(client, action, f"{action}/decide", {
        "intent": str(intent_id), "decision": "refuse", "condition_2": "1", "reasons": "注册资本不足 1000 万元。"})
    assert refused.status_code == 303 and refused.headers["location"] == action
    view = await procedure(client, listing_id, parties["operator"]["headers"])
    assert view["intents"][0]["status"] == "refused" and view["intents"][0]["unmet_conditions"] == [2]
    assert view["status"] == "unsold"  # nobody qualified: the outcome follows at once


async def test_institution_relists_on_the_procedure_page_and_the_operator_approves_below_the_floor_explicitly(
    client: httpx.AsyncClient, parties: dict[str, Any], services: Services, clock: FixedClock,
) -> None:
    listing_id = await listing_of(client, parties)
    await end_period(services, clock, client, listing_id)
    action = f"/listings/{listing_id}/procedure"
    await _login(client, "tto@north.test")
    page = await client.get(action)
    assert 'id="relist"' in page.text and 'id="relist-floor"' in page.text
    old = (await client.get(f"/api/listings/{listing_id}", headers=parties["inst"]["headers"])).json()
    form = {"achievement_id": str(old["achievement_id"]), "listing_price": "80000", "terms": "一次性付款",
            "bidder_conditions": "企业法人", "transfer_mode": "assignment", "competitive_method": "weighted_quote",
            "price_weight": "5", "announcement_working_days": "20"}
    bad_weight = await _form(client, action, f"{action}/relist", form)
    assert bad_weight.status_code == 422 and "price_weight" in bad_weight.text
    assert (await procedure(client, listing_id))["status"] == "unsold"
    relisted = await _form(client, action, f"{action}/relist", form | {"price_weight": "40"})
    assert relisted.status_code == 303
    new_id = int(relisted.headers["location"].rsplit("/", 1)[1])
    assert (await client.get(f"/api/listings/{new_id}", headers=parties["inst"]["headers"])).json()[
        "price_weight_bp"] == 4000

    await _login(client, "op@exchange.test")
    review = await client.get(f"/review/{new_id}")
    assert 'id="approve_below_floor"' in review.text
    refused = await _form(client, f"/review/{new_id}", f"/review/{new_id}",
                          {"decision": "approve", "confirm_publish": "yes"})
    assert refused.status_code == 422 and "<strong>approve_below_floor</strong>" in refused.text
    approved = await _form(client, f"/review/{new_id}", f"/review/{new_id}",
                           {"decision": "approve", "approve_below_floor": "yes", "confirm_publish": "yes"})
    assert approved.status_code == 303
    assert (await client.get(f"/api/listings/{new_id}")).json()["status"] == "announced"
