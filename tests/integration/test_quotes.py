"""One-time sealed quotes (一次性报价) and weighted quotes (综合评议) of a listing (DOMAIN.md, Listing 6
and 7) on real PostgreSQL: each test is named after the rule it checks."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from exchange.accounts import repository as accounts
from exchange.clock import FixedClock
from exchange.disclosure import ocds
from exchange.disclosure import repository as disclosures
from exchange.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from exchange.ledger.check import check
from exchange.quotes.service import QuoteService
from exchange.quotes.types import QuoteInput, RoundInput, ScoresInput
from exchange.services import Services
from exchange.settlement.types import ForfeitDecision
from matching_core.sealed_types import proposal_commitment
from tests.integration.helpers import csrf_from, token_for
from tests.integration.quote_flow import (
    DEPOSIT,
    LISTING_PRICE,
    PASSWORD,
    QuoteParties,
    deadline,
    open_round,
    past_deadline,
    quote,
    quote_listing,
)
from tests.ocds_schema import ocds_problems
from web.i18n import SHANGHAI

SECRET_PRICE = 187_654_321
SECRET_PLAN = "绝密方案 OKAPI-NARWHAL-4417"


async def _deposits(services: Services, listing_id: int) -> dict[int, dict[str, Any]]:
    async with services.pool.acquire() as conn:
        rows = await services.settlement.listing_deposits(conn, listing_id)
    return {row["investor_id"]: dict(row) for row in rows}


async def _listing_status(services: Services, listing_id: int) -> str:
    async with services.pool.acquire() as conn:
        status: str = await conn.fetchval("SELECT status FROM listings WHERE id = $1", listing_id)
    return status


async def _trades(services: Services, listing_id: int) -> list[dict[str, Any]]:
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM trades WHERE listing_id = $1 ORDER BY round", listing_id)
    return [dict(row) for row in rows]


def _score(price: int, best: int, points: int, weight_bp: int) -> int:
    """The weighted score as the rule states it, in basis points: the price part (full marks for
    the best price, proportionally less) weighted with the plan's points (of 100)."""
    price_part = 10_000 * price // best
    return (weight_bp * price_part + (10_000 - weight_bp) * points * 100) // 10_000


# -- who may quote, once --------------------------------------------------------------------------

async def test_only_the_listings_qualified_buyers_with_a_held_deposit_quote_and_each_only_once(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=2, unpaid=1)
    await open_round(services, clock, parties)
    for who, error in [(parties.outsider, Forbidden), (parties.operator, Forbidden), (parties.seller, Forbidden),
                       (None, NotAuthenticated)]:
        with pytest.raises(error):
            await services.quotes.submit(who, parties.listing_id, QuoteInput(price=LISTING_PRICE))
    deposits = await _deposits(services, parties.listing_id)
    due = [investor for investor, d in deposits.items() if d["status"] != "held"]
    assert len(due) == 1
    async with services.pool.acquire() as conn:
        unpaid_buyer = await accounts.account_by_id(conn, due[0])
    with pytest.raises(Forbidden, match="deposit is held"):  # qualified, but the deposit is not paid
        await services.quotes.submit(unpaid_buyer, parties.listing_id, QuoteInput(price=LISTING_PRICE))
    first = await quote(services, parties, parties.buyers[0], LISTING_PRICE + 1_000_00)
    assert first["replayed"] is False and len(first["commitment"]) == 64
    again = await quote(services, parties, parties.buyers[0], LISTING_PRICE + 1_000_00)
    assert again["replayed"] is True and again["commitment"] == first["commitment"]
    with pytest.raises(Conflict, match="quotes once"):
        await quote(services, parties, parties.buyers[0], LISTING_PRICE + 2_000_00)
    view = await services.quotes.round(None, parties.listing_id)
    assert view["round"]["proposals"] == 1


async def test_a_quote_below_the_listing_price_is_refused_and_nothing_is_stored(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=2)
    await open_round(services, clock, parties)
    with pytest.raises(ValidationFailed) as refused:
        await quote(services, parties, parties.buyers[0], LISTING_PRICE - 1)
    assert "price" in refused.value.field_errors
    assert (await services.quotes.round(None, parties.listing_id))["round"]["proposals"] == 0
    accepted = await quote(services, parties, parties.buyers[0], LISTING_PRICE)  # the listing price itself is fine
    assert accepted["replayed"] is False


async def test_the_round_opens_only_for_a_listing_in_competition_sold_by_a_quote_with_a_deadline_at_least_3_working_days_away(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=2)
    earliest = services.calendar.period_end(clock.now(), 3)
    for bad in (earliest - timedelta(minutes=1), clock.now() - timedelta(days=1)):
        with pytest.raises(ValidationFailed) as refused:
            await services.quotes.open_round(parties.operator, parties.listing_id, RoundInput(deadline=bad))
        assert "deadline" in refused.value.field_errors
    with pytest.raises(ValidationFailed):
        await services.quotes.open_round(parties.operator, parties.listing_id,
                                         RoundInput(deadline=(earliest + timedelta(days=1)).replace(tzinfo=None)))
    with pytest.raises(Forbidden):
        await services.quotes.open_round(parties.seller, parties.listing_id, RoundInput(deadline=earliest))
    assert (await services.quotes.round(parties.operator, parties.listing_id))["round"] is None
    opened = await services.quotes.open_round(parties.operator, parties.listing_id, RoundInput(deadline=earliest))
    assert opened["round"]["status"] == "collecting" and opened["round"]["opens_at"] == clock.now().isoformat()
    with pytest.raises(Conflict, match="already opened"):
        await services.quotes.open_round(parties.operator, parties.listing_id, RoundInput(deadline=earliest))
    auctioned = await quote_listing_by_auction(services, clock, parties)
    with pytest.raises(Conflict, match="not by a quote"):
        await services.quotes.open_round(parties.operator, auctioned, RoundInput(deadline=earliest))


async def quote_listing_by_auction(services: Services, clock: FixedClock, parties: QuoteParties) -> int:
    from exchange.achievements.types import AchievementInput
    from exchange.listings.types import ListingInput, Review

    achievement = await services.achievements.record(parties.seller, AchievementInput(
        title="另一项成果", summary="摘要", field="new_energy", kind="patent", funding_source="non_public",
        maturity="pilot"))
    listing = await services.listings.submit(parties.seller, ListingInput(
        achievement_id=achievement.id, listing_price=LISTING_PRICE, terms="条款", bidder_conditions="条件"))
    await services.listings.review(parties.operator, listing.id, Review(decision="approve"))
    return listing.id


# -- secrecy ----------------------------------------------------------------------------------

async def test_quotes_stay_sealed_until_the_deadline_for_everyone_operators_included(
    client: httpx.AsyncClient, services: Services, clock: FixedClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    parties = await quote_listing(services, clock, method="weighted_quote", buyers=2)
    await open_round(services, clock, parties)
    headers = {}
    for key, email in [("buyer", "buyer0@firm.test"), ("rival", "buyer1@firm.test"), ("operator", "op@exchange.test"),
                       ("seller", "tto@north.test"), ("outsider", "outsider@firm.test")]:
        headers[key] = await token_for(client, email, PASSWORD)
    path = f"/api/listings/{parties.listing_id}/quote-round"
    body = {"price": SECRET_PRICE, "plan": SECRET_PLAN}
    sent = await client.post(f"{path}/quotes", headers=headers["buyer"], json=body)
    assert sent.status_code == 201, sent.text
    seen = [sent.text]
    for who, attempt in [("buyer", {"price": SECRET_PRICE + 1, "plan": SECRET_PLAN}), ("outsider", body),
                         ("operator", body), ("seller", body), ("rival", {"price": 5, "plan": SECRET_PLAN})]:
        refused = await client.post(f"{path}/quotes", headers=headers[who], json=attempt)
        assert refused.status_code in (403, 409, 422), refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        seen.append(refused.text)
    for who in [*headers, None]:
        for url in (path, f"/listings/{parties.listing_id}/quote", f"/listings/{parties.listing_id}", "/disclosures",
                    "/api/disclosures"):
            answer = await client.get(url, headers=headers[who] if who else {})
            assert answer.status_code == 200, (url, who, answer.text)
            seen.append(answer.text)
    seen += [record.getMessage() for record in caplog.records]
    for text in seen:
        assert str(SECRET_PRICE) not in text and "1,876,543" not in text and "OKAPI-NARWHAL" not in text
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT r.*, p.* FROM quote_proposals p JOIN quote_rounds r ON r.id = p.round_id")
    at_rest = repr([dict(r) for r in rows])
    assert str(SECRET_PRICE) not in at_rest and "OKAPI-NARWHAL" not in at_rest
    assert b"OKAPI-NARWHAL" not in rows[0]["sealed"]
    await past_deadline(services, clock, parties)
    opened = (await client.get(path)).json()
    assert [o["price"] for o in opened["round"]["opening"]] == [SECRET_PRICE]
    assert opened["round"]["opening"][0]["plan"] is None  # plans go to the evaluation panel, not the public
    entry = opened["round"]["opening"][0]
    digest = entry["plan_digest"]
    assert proposal_commitment(str(parties.buyers[0].id), SECRET_PRICE, digest, entry["nonce"]) == sent.json()["commitment"]
    page = await client.get(f"/listings/{parties.listing_id}/quote")
    assert page.status_code == 200 and "1,876,543.21" in page.text
    reference = opened["listing"]["reference_no"]
    async with services.pool.acquire() as conn:
        record = await disclosures.published(conn, "quote_opening", f"{reference}-QUOTE-OPENING")
    assert record is not None
    package = ocds.release_package(reference, [record], clock.now(), base_url="https://exchange.example/")
    assert ocds_problems(package) == []
    bids = package["releases"][0]["bids"]["details"]  # the opening as OCDS bids
    assert [(b["tenderers"][0]["name"], b["value"]["amount"]) for b in bids] == [
        (parties.buyers[0].display_name, SECRET_PRICE / 100)]


# -- the award --------------------------------------------------------------------------------

async def test_the_highest_price_wins_the_one_time_sealed_quote_and_the_opening_names_bidders_and_prices(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=3)
    await open_round(services, clock, parties)
    prices = [LISTING_PRICE + 5_000_00, LISTING_PRICE + 9_000_00, LISTING_PRICE]
    for buyer, price in zip(parties.buyers, prices, strict=True):
        await quote(services, parties, buyer, price)
    assert (await services.quotes.sweep())["awarded"] == 0  # not before the deadline
    counts = await past_deadline(services, clock, parties)
    assert counts["awarded"] == 1
    view = await services.quotes.round(None, parties.listing_id)
    best = max(prices)
    winner = parties.buyers[prices.index(best)]
    assert view["round"]["status"] == "awarded"
    assert view["round"]["result"]["winner_id"] == winner.id and view["round"]["result"]["price"] == best
    ranks = {o["bidder_id"]: o["rank"] for o in view["round"]["opening"]}
    by_price = sorted(range(3), key=lambda i: -prices[i])
    assert [ranks[parties.buyers[i].id] for i in by_price] == [1, 2, 3]
    assert await _listing_status(services, parties.listing_id) == "dealt"
    trades = await _trades(services, parties.listing_id)
    assert [(t["buyer_id"], t["price"], t["method"]) for t in trades] == [(winner.id, best, "sealed_quote")]
    async with services.pool.acquire() as conn:
        body = await conn.fetchval("SELECT body FROM disclosures WHERE kind = 'quote_opening'")
    published = {p["bidder"]: p["price"] for p in body["proposals"]}
    assert published == {b.display_name: p for b, p in zip(parties.buyers, prices, strict=True)}


async def test_of_equal_sealed_quotes_the_earlier_wins(services: Services, clock: FixedClock) -> None:
    parties = await quote_listing(services, clock, buyers=2)
    await open_round(services, clock, parties)
    same = LISTING_PRICE + 3_000_00
    await quote(services, parties, parties.buyers[1], same)
    clock.advance(timedelta(minutes=5))
    await quote(services, parties, parties.buyers[0], same)
    await past_deadline(services, clock, parties)
    result = (await services.quotes.round(None, parties.listing_id))["round"]["result"]
    assert result["winner_id"] == parties.buyers[1].id


async def test_the_highest_score_wins_the_weighted_quote_with_the_listings_price_weight(
    services: Services, clock: FixedClock,
) -> None:
    weight = 6_000
    parties = await quote_listing(services, clock, method="weighted_quote", buyers=3, price_weight_bp=weight)
    await open_round(services, clock, parties)
    offers = [(LISTING_PRICE + 30_000_00, 50), (LISTING_PRICE + 10_000_00, 95), (LISTING_PRICE + 5_000_00, 60)]
    for i, (buyer, (price, _)) in enumerate(zip(parties.buyers, offers, strict=True)):
        await quote(services, parties, buyer, price, plan=f"方案 {i}: 产业化路线")
    with pytest.raises(ValidationFailed):  # a weighted quote needs its plan
        await quote(services, parties, parties.outsider, LISTING_PRICE)
    assert (await past_deadline(services, clock, parties))["opened"] == 1
    assert (await services.quotes.round(None, parties.listing_id))["round"]["status"] == "opened"
    assert await _trades(services, parties.listing_id) == []
    staff_view = await services.quotes.round(parties.operator, parties.listing_id)
    assert {o["plan"] for o in staff_view["round"]["opening"]} == {f"方案 {i}: 产业化路线" for i in range(3)}
    with pytest.raises(ValidationFailed):  # every opened plan scored, 0..100
        await services.quotes.score(parties.operator, parties.listing_id,
                                    ScoresInput(scores={str(parties.buyers[0].id): 50}))
    with pytest.raises(ValidationFailed):
        await services.quotes.score(parties.operator, parties.listing_id, ScoresInput(
            scores={str(b.id): 101 for b in parties.buyers}))
    with pytest.raises(Forbidden):
        await services.quotes.score(parties.seller, parties.listing_id, ScoresInput(
            scores={str(b.id): 50 for b in parties.buyers}))
    scores = {str(b.id): points for b, (_, points) in zip(parties.buyers, offers, strict=True)}
    awarded = await services.quotes.score(parties.operator, parties.listing_id, ScoresInput(scores=scores))
    best = max(price for price, _ in offers)
    expected = [_score(price, best, points, weight) for price, points in offers]
    order = sorted(range(3), key=lambda i: -expected[i])
    winner = parties.buyers[order[0]]
    assert order[0] != offers.index(max(offers)), "the plan's score must outweigh the highest price here"
    assert awarded["round"]["status"] == "awarded"
    assert awarded["round"]["result"] == awarded["round"]["result"] | {
        "winner_id": winner.id, "price": offers[order[0]][0]}
    got = {o["bidder_id"]: (o["rank"], o["total_score"], o["technical_score"]) for o in awarded["round"]["opening"]}
    for rank, i in enumerate(order, start=1):
        assert got[parties.buyers[i].id] == (rank, expected[i], offers[i][1])
    trades = await _trades(services, parties.listing_id)
    assert [(t["buyer_id"], t["method"]) for t in trades] == [(winner.id, "weighted_quote")]
    with pytest.raises(Conflict):
        await services.quotes.score(parties.operator, parties.listing_id, ScoresInput(scores=scores))


async def test_the_winners_deposit_converts_into_part_of_the_price_and_the_losers_are_released_at_once(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=3, unpaid=1)
    await open_round(services, clock, parties)
    for buyer, extra in zip(parties.buyers, (1_000_00, 4_000_00, 2_000_00), strict=True):
        await quote(services, parties, buyer, LISTING_PRICE + extra)
    await past_deadline(services, clock, parties)
    opened_at = clock.now()
    winner = parties.buyers[1]
    deposits = await _deposits(services, parties.listing_id)
    assert deposits[winner.id]["status"] == "applied"
    losers = [b.id for b in parties.buyers if b.id != winner.id]
    assert [deposits[i]["status"] for i in losers] == ["released", "released"]
    assert all(deposits[i]["resolved_at"] == opened_at for i in losers)
    unpaid = [d for i, d in deposits.items() if i not in {b.id for b in parties.buyers}]
    assert [d["status"] for d in unpaid] == ["lapsed"]
    trade = (await _trades(services, parties.listing_id))[0]
    assert trade["deposit_applied"] == DEPOSIT and trade["deposit_id"] == deposits[winner.id]["id"]
    async with services.pool.acquire() as conn:
        assert await check(conn) == []


async def test_a_winner_who_does_not_sign_forfeits_and_the_lot_goes_to_the_next_bidder_by_rank(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=3)
    await open_round(services, clock, parties)
    prices = [LISTING_PRICE + 2_000_00, LISTING_PRICE + 8_000_00, LISTING_PRICE + 5_000_00]
    for buyer, price in zip(parties.buyers, prices, strict=True):
        await quote(services, parties, buyer, price)
    await past_deadline(services, clock, parties)
    first = (await _trades(services, parties.listing_id))[0]
    clock.set(first["contract_due"] + timedelta(seconds=1))  # the 3 working days to sign ran out
    await services.settlement.sweep()
    forfeited = (await _trades(services, parties.listing_id))[0]
    assert forfeited["status"] == "forfeited"
    await services.trades.decide_after_forfeit(parties.operator, first["id"], ForfeitDecision(next_step="next_bidder"))
    trades = await _trades(services, parties.listing_id)
    runner = sorted(range(3), key=lambda i: -prices[i])[1]
    assert [(t["round"], t["buyer_id"], t["price"]) for t in trades] == [
        (1, parties.buyers[1].id, prices[1]), (2, parties.buyers[runner].id, prices[runner])]


async def test_no_valid_quote_fails_the_round_the_listing_is_unsold_and_deposits_are_released(
    services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=2)
    await open_round(services, clock, parties)
    assert (await past_deadline(services, clock, parties))["failed"] == 1
    view = await services.quotes.round(None, parties.listing_id)
    assert view["round"]["status"] == "failed" and view["round"]["opening"] == []
    assert await _listing_status(services, parties.listing_id) == "unsold"
    deposits = await _deposits(services, parties.listing_id)
    assert {d["status"] for d in deposits.values()} == {"released"}
    assert await _trades(services, parties.listing_id) == []
    with pytest.raises(Conflict):
        await quote(services, parties, parties.buyers[0], LISTING_PRICE)


class _Later:
    """A system-like clock (not a FixedClock, so the sweeper runs) standing at a given moment."""

    def __init__(self, moment: datetime) -> None:
        self._moment = moment

    def now(self) -> datetime:
        return self._moment


async def test_a_deadline_that_passed_while_the_exchange_was_down_is_applied_at_start(
    services: Services, clock: FixedClock,
) -> None:
    secret = "the-exchange-secret"
    before = Services.build(services.pool, services.redis, clock, services.calendar, tender_secret=secret)
    parties = await quote_listing(before, clock, buyers=2)
    await open_round(before, clock, parties)
    await quote(before, parties, parties.buyers[0], LISTING_PRICE + 1_000_00)
    await quote(before, parties, parties.buyers[1], LISTING_PRICE + 2_000_00)
    down_until = deadline(before, clock) + timedelta(days=2)
    restarted = QuoteService(services.pool, _Later(down_until), services.calendar, secret, before.settlement)
    restarted.start()
    try:
        for _ in range(200):
            view = await restarted.round(None, parties.listing_id)
            if view["round"]["status"] != "collecting":
                break
            await asyncio.sleep(0.05)
    finally:
        await restarted.stop()
    assert view["round"]["status"] == "awarded"
    assert view["round"]["result"]["winner_id"] == parties.buyers[1].id
    assert view["round"]["opened_at"] == down_until.isoformat()


# -- bad input over HTTP ------------------------------------------------------------------------

async def test_bad_input_gets_problem_details_and_changes_nothing(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, buyers=2)
    operator = await token_for(client, "op@exchange.test", PASSWORD)
    buyer = await token_for(client, "buyer0@firm.test", PASSWORD)
    path = f"/api/listings/{parties.listing_id}/quote-round"
    for headers, url, body in [
        (operator, path, {"deadline": "tomorrow"}),
        (operator, path, {"deadline": deadline(services, clock).isoformat(), "extra": 1}),
        (operator, path, {"deadline": clock.now().isoformat()}),
        (buyer, path, {"deadline": deadline(services, clock).isoformat()}),
        (buyer, f"{path}/quotes", {"price": LISTING_PRICE}),  # no round yet
        (operator, f"{path}/scores", {"scores": {}}),
        (operator, "/api/listings/999999/quote-round", {"deadline": deadline(services, clock).isoformat()}),
    ]:
        answer = await client.post(url, headers=headers, json=body)
        assert answer.status_code in (400, 403, 404, 409, 422), (url, body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(path)).json()["round"] is None
    opened = await client.post(path, headers=operator, json={"deadline": deadline(services, clock).isoformat()})
    assert opened.status_code == 201, opened.text
    for body in ({"price": "lots"}, {"price": -1}, {"price": 0}, {"price": LISTING_PRICE, "plan": "a plan"},
                 {"price": LISTING_PRICE, "extra": True}, {}):
        answer = await client.post(f"{path}/quotes", headers=buyer, json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(path)).json()["round"]["proposals"] == 0
    assert (await client.get("/api/listings/999999/quote-round")).status_code == 404


async def test_the_demo_offers_a_sealed_quote_round_a_visitor_can_quote_in_once(
    services: Services, clock: FixedClock,
) -> None:
    from exchange.demo.loader import load_demo
    from exchange.demo.quotes import ensure_demo_quote_round

    await load_demo(services)
    listing_id = await ensure_demo_quote_round(services)
    assert listing_id is not None
    assert await ensure_demo_quote_round(services) is None  # the demo has its round: nothing more
    visitor = await services.accounts.by_email("investor@capital.demo")
    view = await services.quotes.round(visitor, listing_id)
    assert view["listing"]["method"] == "sealed_quote" and view["listing"]["status"] == "competition"
    listing = await services.listings.get_for(None, listing_id)
    assert listing.announcement_start is not None and listing.announcement_end is not None
    # the demo's history keeps the rules: a whole announcement period, intents registered during it
    assert listing.announcement_end == services.calendar.period_end(listing.announcement_start, 20)
    assert listing.announcement_end < clock.now()
    async with services.pool.acquire() as conn:
        registered = await conn.fetch("SELECT registered_at FROM listing_intents WHERE listing_id = $1", listing_id)
    assert len(registered) == 2
    assert all(listing.announcement_start < r["registered_at"] < listing.announcement_end for r in registered)
    assert view["round"]["status"] == "collecting" and view["round"]["proposals"] == 0 and view["can_quote"]
    rival = await services.accounts.by_email("buyer@huaxin.demo")
    await services.quotes.submit(rival, listing_id, QuoteInput(price=view["listing"]["listing_price"] + 100))
    await services.quotes.submit(visitor, listing_id, QuoteInput(price=view["listing"]["listing_price"] * 2))
    clock.set(datetime.fromisoformat(view["round"]["deadline"]) + timedelta(seconds=1))
    await services.quotes.sweep()
    result = (await services.quotes.round(visitor, listing_id))
    assert result["round"]["result"]["winner_id"] == visitor.id and result["trade_id"] is not None


async def _login(client: httpx.AsyncClient, email: str) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await browser.get("/login?lang=en")
    answer = await browser.post("/login", data={"email": email, "password": PASSWORD, "_csrf": csrf_from(page.text)})
    assert answer.status_code == 303, answer.text
    return browser


async def test_on_the_pages_the_operator_opens_a_weighted_round_buyers_quote_with_a_plan_and_the_panel_scores(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    parties = await quote_listing(services, clock, method="weighted_quote", buyers=2, price_weight_bp=5_000)
    page = f"/listings/{parties.listing_id}/quote"
    operator = await _login(client, "op@exchange.test")
    listing_page = await client.get(f"/listings/{parties.listing_id}?lang=en")
    assert f'href="{page}"' in listing_page.text  # the listing links to its quote round
    form = await operator.get(f"{page}?lang=en")
    assert 'id="open-round"' in form.text
    too_soon = await operator.post(f"{page}/open", data={
        "deadline": clock.now().strftime("%Y-%m-%dT%H:%M"), "_csrf": csrf_from(form.text)})
    assert too_soon.status_code == 422 and "3 working days" in too_soon.text
    assert (await services.quotes.round(None, parties.listing_id))["round"] is None
    local = deadline(services, clock).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    opened = await operator.post(f"{page}/open", data={"deadline": local, "_csrf": csrf_from(form.text)})
    assert opened.status_code == 303, opened.text
    for n, (buyer, yuan, plan) in enumerate([(parties.buyers[0], "1,300,000", "方案甲"),
                                            (parties.buyers[1], "1250000.50", "方案乙")]):
        session = await _login(client, buyer.email)
        mine = await session.get(f"{page}?lang=en")
        assert 'id="submit-quote"' in mine.text and 'id="plan"' in mine.text
        if n == 0:
            low = await session.post(f"{page}/submit", data={"price": "1000", "plan": plan,
                                                             "_csrf": csrf_from(mine.text)})
            assert low.status_code == 422 and "listing price" in low.text
        sent = await session.post(f"{page}/submit", data={"price": yuan, "plan": plan, "_csrf": csrf_from(mine.text)})
        assert sent.status_code == 201 and 'id="receipt-commitment"' in sent.text
        again = await session.get(f"{page}?lang=en")
        assert 'id="submit-quote"' not in again.text and 'id="receipt-commitment"' in again.text
    await past_deadline(services, clock, parties)
    panel = await operator.get(f"{page}?lang=en")
    assert "方案甲" in panel.text and 'id="save-scores"' in panel.text
    public = await client.get(f"{page}?lang=en")
    assert "方案甲" not in public.text and "1,300,000.00" in public.text
    first, second = parties.buyers
    bad = await operator.post(f"{page}/scores", data={f"score_{first.id}": "80", f"score_{second.id}": "abc",
                                                      "_csrf": csrf_from(panel.text)})
    assert bad.status_code == 422
    scored = await operator.post(f"{page}/scores", data={f"score_{first.id}": "40", f"score_{second.id}": "90",
                                                         "_csrf": csrf_from(panel.text)})
    assert scored.status_code == 303, scored.text
    expected = {first.id: _score(130_000_000, 130_000_000, 40, 5_000),
                second.id: _score(125_000_050, 130_000_000, 90, 5_000)}
    winner = max(expected, key=lambda k: expected[k])
    result = (await services.quotes.round(None, parties.listing_id))["round"]["result"]
    assert result["winner_id"] == winner
    done = await client.get(f"{page}?lang=en")
    assert 'id="quote-result"' in done.text


def test_a_quote_rounds_key_and_quotes_are_apart_from_a_tenders_of_the_same_id(clock: FixedClock) -> None:
    from exchange.quotes.types import QUOTE_LABEL
    from exchange.tenders.sealing import CannotOpen, Sealer, StillSealed

    quotes, tenders = Sealer("one-exchange-secret", label=QUOTE_LABEL), Sealer("one-exchange-secret")
    public, wrapped = quotes.new_tender_keys(7)
    deadline = clock.now() + timedelta(days=3)
    with pytest.raises(StillSealed):
        quotes.open_key(7, wrapped, deadline, deadline - timedelta(microseconds=1))
    with pytest.raises(CannotOpen, match="key of tender 7"):  # the tender label cannot unwrap a quote round's key
        tenders.open_key(7, wrapped, deadline, deadline)
    _, sealed = Sealer.seal(7, public, "42", SECRET_PRICE, "", label=QUOTE_LABEL)
    private = quotes.open_key(7, wrapped, deadline, deadline)
    assert Sealer.unseal(7, private, "42", sealed, label=QUOTE_LABEL).price == SECRET_PRICE
    with pytest.raises(CannotOpen, match="not sealed to tender 7"):  # nor read a quote sealed to the round
        Sealer.unseal(7, private, "42", sealed)
    assert quotes.request_mac(7, "42", SECRET_PRICE, "") != tenders.request_mac(7, "42", SECRET_PRICE, "")
