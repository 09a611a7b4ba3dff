"""Card deposits and balances end to end: the settlement service and its webhook endpoint on
real PostgreSQL and Redis, the real Stripe SDK, and the local fake of Stripe's API.

Webhooks are held by the fake and POSTed by each test to /api/stripe/webhook, so a test
chooses their order, repeats them, forges them or delivers them late.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.calendar import default_calendar
from exchange.clock import FixedClock
from exchange.infra.db import create_pool
from exchange.ledger import ledger
from exchange.ledger.check import check
from exchange.services import Services
from exchange.settlement.cards import STRIPE_TOLERANCE_S
from exchange.settlement.stripe_gateway import StripeGateway
from exchange.settlement.types import Delivery as Handover
from tests.fakes.stripe_api import Delivery, FakeStripe
from tests.integration.helpers import token_for
from tests.integration.settlement_flow import DEPOSIT, Sale, bid, open_and_close, qualified_auction
from web.app import create_app

PRICE = 10_000_000
BACK = {"success_url": "http://exchange.test/deposits?paid={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://exchange.test/deposits"}


@pytest.fixture
def fake(clock: FixedClock) -> Iterator[FakeStripe]:
    with FakeStripe(now=lambda: clock.now().timestamp()) as running:
        yield running


@pytest.fixture
async def engine(database_url: str, redis_url: str, clock: FixedClock, fake: FakeStripe) -> AsyncIterator[Services]:
    # No SDK retries: an outage is seen at once and repaired by the sweep.
    gateway = StripeGateway(fake.secret_key, fake.webhook_secret, fake.api_base,
                            lambda: clock.now().timestamp(), max_network_retries=0)
    pool = await create_pool(database_url, min_size=1, max_size=10)
    redis = aioredis.Redis.from_url(redis_url)
    services = Services.build(pool, redis, clock, default_calendar(),
                              PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), cards=gateway, auction_notice_days=0)
    await services.auctions.start()
    yield services
    await services.auctions.stop()
    await gateway.aclose()
    await redis.aclose()
    await pool.close()


@pytest.fixture
async def client(engine: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(engine), client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test_client:
        yield test_client


async def webhook(client: httpx.AsyncClient, delivery: Delivery) -> httpx.Response:
    return await client.post("/api/stripe/webhook", content=delivery.payload,
                             headers={"Stripe-Signature": delivery.header, "Content-Type": "application/json"})


async def deliver_all(client: httpx.AsyncClient, fake: FakeStripe) -> list[dict[str, Any]]:
    answers = []
    for delivery in fake.take_held():
        response = await webhook(client, delivery)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


async def card_checkout(client: httpx.AsyncClient, sale: Sale, index: int) -> dict[str, Any]:
    investor = sale.parties.investors[index]
    headers = await token_for(client, investor.email)
    response = await client.post(f"/api/deposits/{sale.deposits[investor.id]['id']}/card", json=BACK, headers=headers)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


async def pay_on_hosted_page(checkout: dict[str, Any]) -> None:
    """What the payer's browser does: open Stripe's page, press Pay, follow the redirect home."""
    async with httpx.AsyncClient() as browser:
        page = await browser.get(checkout["checkout_url"])
        assert page.status_code == 200 and "Pay" in page.text
        paid = await browser.post(checkout["checkout_url"], data={"action": "pay"})
    assert paid.status_code == 303
    assert paid.headers["location"] == BACK["success_url"].replace("{CHECKOUT_SESSION_ID}", checkout["session_id"])


async def paid_by_card(client: httpx.AsyncClient, fake: FakeStripe, sale: Sale, index: int) -> str:
    """The investor pays the deposit on the hosted page; the webhooks are held. The intent id."""
    checkout = await card_checkout(client, sale, index)
    await pay_on_hosted_page(checkout)
    intent: str = fake.state.sessions[checkout["session_id"]]["payment_intent"]
    return intent


async def deposit_of(engine: Services, sale: Sale, index: int) -> dict[str, Any]:
    investor_id = sale.parties.investors[index].id
    return await engine.settlement.deposit(sale.parties.operator, sale.deposits[investor_id]["id"])


async def money_moved(engine: Services) -> tuple[int, int, int]:
    async with engine.pool.acquire() as conn:
        row = await conn.fetchrow("""SELECT (SELECT count(*) FROM ledger_transfers), (SELECT count(*) FROM payments),
                                            (SELECT count(*) FROM stripe_events)""")
    assert row is not None
    return row[0], row[1], row[2]


async def invariants_hold(engine: Services) -> None:
    async with engine.pool.acquire() as conn:
        failures = await check(conn)
    assert failures == [], failures


def intent_status(fake: FakeStripe, intent_id: str) -> str:
    status: str = fake.state.intents[intent_id]["status"]
    return status


async def test_card_deposits_are_held_then_the_winner_captured_and_the_losers_cancelled(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock)
    intents = [await paid_by_card(client, fake, sale, i) for i in range(3)]
    assert [intent_status(fake, i) for i in intents] == ["requires_capture"] * 3
    assert (await deposit_of(engine, sale, 0))["status"] == "due"  # nothing until Stripe says so

    answers = await deliver_all(client, fake)
    assert sum(a["applied"] for a in answers) == len(answers) == 6

    for i in range(3):
        deposit = await deposit_of(engine, sale, i)
        assert (deposit["status"], deposit["provider"]) == ("held", "stripe")
    await open_and_close(engine, clock, sale, [(0, 5_000_000), (1, 8_000_000), (0, PRICE)])

    assert [intent_status(fake, i) for i in intents] == ["succeeded", "canceled", "canceled"]
    assert fake.state.intents[intents[0]]["amount_received"] == DEPOSIT
    statuses = [(await deposit_of(engine, sale, i)) for i in range(3)]
    assert [(d["status"], d["card_pending"]) for d in statuses] == [
        ("applied", None), ("released", None), ("released", None)]
    refunds = await engine.settlement.payouts(sale.parties.operator)
    assert sorted((p["external_ref"], p["status"]) for p in refunds if p["purpose"] == "refund") == sorted(
        [(intents[1], "sent"), (intents[2], "sent")])

    after_close = await deliver_all(client, fake)  # payment_intent.succeeded / .canceled
    assert {a["applied"] for a in after_close} == {True}
    assert [(await deposit_of(engine, sale, i))["status"] for i in range(3)] == ["applied", "released", "released"]
    await invariants_hold(engine)


async def test_the_balance_is_paid_by_card_and_the_seller_paid_by_transfer(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=2)
    for i in range(2):
        await paid_by_card(client, fake, sale, i)
    await deliver_all(client, fake)
    await open_and_close(engine, clock, sale, [(1, 6_000_000), (0, PRICE)])
    buyer, seller, operator = sale.parties.investors[0], sale.parties.seller, sale.parties.operator
    trade = (await engine.trades.trades(operator))[0]
    await engine.trades.confirm_contract(buyer, trade["id"])
    destination = fake.add_connected_account(email=seller.email)
    await client.put(f"/api/payouts/accounts/{seller.id}", json={"stripe_account": destination},
                     headers=await token_for(client, operator.email))

    response = await client.post(f"/api/trades/{trade['id']}/card", json=BACK, headers=await token_for(client, buyer.email))
    assert response.status_code == 201, response.text
    due = (await engine.trades.trade(buyer, trade["id"]))["balance_due"]
    await pay_on_hosted_page(response.json())
    intent = fake.state.sessions[response.json()["session_id"]]
    assert fake.state.intents[intent["payment_intent"]]["amount_received"] == due
    await deliver_all(client, fake)

    assert (await engine.trades.trade(buyer, trade["id"]))["status"] == "awaiting_delivery"
    await engine.trades.record_delivery(seller, trade["id"], Handover(note="ZL2023 assignment registered"))
    await engine.trades.accept_delivery(buyer, trade["id"])
    await engine.settlement.sweep()

    [transfer] = fake.state.transfers.values()
    proceeds = [p for p in await engine.settlement.payouts(seller) if p["purpose"] != "refund"]
    assert [(p["status"], p["external_ref"]) for p in proceeds] == [("sent", transfer["id"])]
    assert (transfer["destination"], transfer["amount"], transfer["currency"]) == (destination, proceeds[0]["amount"], "cny")
    await invariants_hold(engine)


async def test_a_replayed_webhook_is_applied_once(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock)
    await paid_by_card(client, fake, sale, 0)
    [authorised] = [d for d in fake.take_held() if d.event["type"] == "payment_intent.amount_capturable_updated"]

    first = await webhook(client, authorised)
    retries = await asyncio.gather(*(webhook(client, fake.sign(authorised.event)) for _ in range(5)))

    assert first.json()["applied"] is True
    assert [r.json()["applied"] for r in retries] == [False] * 5
    assert (await deposit_of(engine, sale, 0))["status"] == "held"
    assert (await money_moved(engine))[:2] == (2, 1)  # received, held; one payment
    await invariants_hold(engine)


async def test_events_in_any_order_hold_the_deposit_once(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock)
    await paid_by_card(client, fake, sale, 0)
    for delivery in reversed(fake.take_held()):  # checkout.session.completed first
        assert (await webhook(client, delivery)).status_code == 200
    assert (await deposit_of(engine, sale, 0))["status"] == "held"
    held = await money_moved(engine)

    await open_and_close(engine, clock, sale, [(0, PRICE)])
    fake.take_held()
    stale_authorisation = fake.events_of("payment_intent.amount_capturable_updated")[0]
    late = await webhook(client, fake.sign(fake.events_of("checkout.session.completed")[0]))
    later = await webhook(client, fake.sign(stale_authorisation))  # arrives after the capture

    assert late.json()["applied"] is False and later.json()["applied"] is False
    assert (await deposit_of(engine, sale, 0))["status"] == "applied"
    assert (await money_moved(engine))[1] == held[1]  # no second payment
    await invariants_hold(engine)


def _freshened(delivery: Delivery, now: float) -> Delivery:
    """An old delivery with a fresh-looking timestamp put in front of its genuine one."""
    stamp, signature = delivery.header.split(",")
    return Delivery(delivery.event, delivery.payload, f"x=1, t={int(now)},{stamp},{signature}")


@pytest.mark.parametrize("spoil", ["forged", "stale", "tampered", "unsigned", "two timestamps"])
async def test_forged_and_stale_webhooks_are_refused_and_change_nothing(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock, spoil: str,
) -> None:
    sale = await qualified_auction(engine, clock)
    await paid_by_card(client, fake, sale, 0)
    [genuine] = [d for d in fake.take_held() if d.event["type"] == "payment_intent.amount_capturable_updated"]
    before = await money_moved(engine)
    bad = {
        "forged": fake.sign(genuine.event, secret="whsec_guessed"),
        "stale": fake.sign(genuine.event, signed_at=clock.now().timestamp() - STRIPE_TOLERANCE_S - 1),
        "tampered": Delivery(genuine.event, genuine.payload.replace(b'"requires_capture"', b'"succeeded"'), genuine.header),
        "unsigned": Delivery(genuine.event, genuine.payload, ""),
        "two timestamps": _freshened(fake.sign(genuine.event, signed_at=clock.now().timestamp()
                                               - STRIPE_TOLERANCE_S - 100), clock.now().timestamp()),
    }[spoil]

    refused = await webhook(client, bad)

    assert refused.status_code == 400 and refused.json()["type"].endswith("/invalid_webhook"), refused.text
    assert await money_moved(engine) == before
    assert (await deposit_of(engine, sale, 0))["status"] == "due"
    assert (await webhook(client, genuine)).json()["applied"] is True  # the genuine one still counts
    assert (await deposit_of(engine, sale, 0))["status"] == "held"


async def test_a_webhook_within_the_tolerance_is_accepted(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock)
    await paid_by_card(client, fake, sale, 0)
    [genuine] = [d for d in fake.take_held() if d.event["type"] == "payment_intent.amount_capturable_updated"]
    clock.advance(timedelta(seconds=STRIPE_TOLERANCE_S - 1))
    assert (await webhook(client, genuine)).json()["applied"] is True


async def test_an_authorisation_after_the_close_is_cancelled(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=2)
    await paid_by_card(client, fake, sale, 0)
    await deliver_all(client, fake)
    late_checkout = await card_checkout(client, sale, 1)
    await open_and_close(engine, clock, sale, [(0, PRICE)])
    assert (await deposit_of(engine, sale, 1))["status"] == "lapsed"
    before = await money_moved(engine)

    await pay_on_hosted_page(late_checkout)
    await deliver_all(client, fake)

    intent = fake.state.sessions[late_checkout["session_id"]]["payment_intent"]
    assert intent_status(fake, intent) == "canceled"
    assert (await deposit_of(engine, sale, 1))["status"] == "lapsed"
    assert (await money_moved(engine))[:2] == before[:2]
    await invariants_hold(engine)


async def test_a_processor_outage_at_the_close_is_repaired_by_the_sweep(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=2)
    intents = [await paid_by_card(client, fake, sale, i) for i in range(2)]
    await deliver_all(client, fake)

    fake.fail_next(2)
    await open_and_close(engine, clock, sale, [(1, 6_000_000), (0, PRICE)])
    assert [intent_status(fake, i) for i in intents] == ["requires_capture"] * 2
    assert [(await deposit_of(engine, sale, i))["card_pending"] for i in range(2)] == ["capture", "cancel"]

    await engine.settlement.sweep()
    assert [intent_status(fake, i) for i in intents] == ["succeeded", "canceled"]
    assert [(await deposit_of(engine, sale, i))["card_pending"] for i in range(2)] == [None, None]
    await invariants_hold(engine)


async def test_a_webhook_during_an_outage_is_refused_then_applied_on_stripes_retry(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock)
    await paid_by_card(client, fake, sale, 0)
    [authorised] = [d for d in fake.take_held() if d.event["type"] == "payment_intent.amount_capturable_updated"]

    fake.fail_next(1)
    assert (await webhook(client, authorised)).status_code == 503  # Stripe retries a non-2xx answer
    assert (await deposit_of(engine, sale, 0))["status"] == "due"

    assert (await webhook(client, fake.resend(authorised.event["id"]))).json()["applied"] is True
    assert (await deposit_of(engine, sale, 0))["status"] == "held"


async def test_an_authorisation_racing_the_close_is_released_or_cancelled(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock, database_url: str,
) -> None:
    """The webhook locks the deposit and stalls inside its transaction (another transaction
    holds the card ledger account) while the close reads the deposits: whichever order the
    two commit in, the card hold must not outlive the auction."""
    sale = await qualified_auction(engine, clock, investors=2)
    await paid_by_card(client, fake, sale, 0)
    await deliver_all(client, fake)
    racing_intent = await paid_by_card(client, fake, sale, 1)
    [authorised] = [d for d in fake.take_held() if d.event["type"] == "payment_intent.amount_capturable_updated"]
    clock.advance(timedelta(minutes=1))
    await engine.auctions.fire_due()
    assert (await bid(engine, sale, 0, PRICE))["status"] == "accepted"
    clock.advance(timedelta(hours=2))

    blocker = await asyncpg.connect(database_url)
    stalled = blocker.transaction()
    await stalled.start()
    await ledger.open_account(blocker, ledger.card("CNY"), clock.now())
    await blocker.execute("SELECT 1 FROM ledger_accounts WHERE code = $1 FOR UPDATE", ledger.card("CNY").code)
    applying = asyncio.create_task(webhook(client, fake.sign(authorised.event)))  # Stripe's retry, signed now
    await waiting_on_locks(blocker, 1)
    closing = asyncio.create_task(engine.auctions.fire_due())
    await waiting_on_locks(blocker, 2)
    await stalled.rollback()
    await blocker.close()
    await asyncio.gather(applying, closing)
    await engine.settlement.sweep()
    await deliver_all(client, fake)

    deposit = await deposit_of(engine, sale, 1)
    assert deposit["status"] in ("released", "lapsed"), deposit
    assert intent_status(fake, racing_intent) == "canceled"
    await invariants_hold(engine)


async def waiting_on_locks(conn: asyncpg.Connection, count: int) -> None:
    for _ in range(500):
        waiting = await conn.fetchval(  # a fresh statistics snapshot: the caller is inside a transaction
            "SELECT pg_stat_clear_snapshot(), count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()", column=1)
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} transactions waiting on a lock")


async def test_a_card_deposit_and_a_bank_balance_pay_the_seller_each_the_way_the_money_came(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    from exchange.settlement.types import BankTransfer

    sale = await qualified_auction(engine, clock, investors=1)
    await paid_by_card(client, fake, sale, 0)
    await deliver_all(client, fake)
    await open_and_close(engine, clock, sale, [(0, PRICE)])
    buyer, seller, operator = sale.parties.investors[0], sale.parties.seller, sale.parties.operator
    trade = (await engine.trades.trades(operator))[0]
    await engine.settlement.sweep()  # the winner's card deposit is captured
    await engine.trades.confirm_contract(buyer, trade["id"])
    due = (await engine.trades.trade(buyer, trade["id"]))["balance_due"]
    await engine.settlement.confirm_bank_transfer(operator, BankTransfer(
        reference_code=trade["reference_code"], amount=due, statement_ref="STMT-BAL"))
    await engine.trades.record_delivery(seller, trade["id"], Handover(note="registered"))
    await engine.trades.accept_delivery(buyer, trade["id"])
    await invariants_hold(engine)  # the bank never pays out the part that sits at the card processor

    proceeds = {p["provider"]: p for p in await engine.settlement.payouts(seller) if p["purpose"] == "proceeds"}
    released = await engine.trades.trade(operator, trade["id"])
    assert proceeds["stripe"]["amount"] == DEPOSIT
    assert proceeds["offline"]["amount"] == PRICE - released["seller_fee"] - DEPOSIT
    assert proceeds["stripe"]["status"] == "to_send"  # waits for the seller's connected account
    as_operator = await token_for(client, operator.email)
    destination = fake.add_connected_account(email=seller.email)
    await client.put(f"/api/payouts/accounts/{seller.id}", json={"stripe_account": destination}, headers=as_operator)
    desk = await client.get("/operator/settlement?lang=en", headers=as_operator)
    assert desk.status_code == 200 and 'id="card-payouts-waiting"' in desk.text  # listed until the sweep sends it
    await engine.settlement.sweep()
    [transfer] = fake.state.transfers.values()
    assert (transfer["destination"], transfer["amount"]) == (destination, DEPOSIT)
    await invariants_hold(engine)


async def test_a_forfeited_card_deposit_pays_the_seller_share_by_card(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    intent = await paid_by_card(client, fake, sale, 0)
    await deliver_all(client, fake)
    await open_and_close(engine, clock, sale, [(0, PRICE)])
    trade = (await engine.trades.trades(sale.parties.operator))[0]
    clock.advance(timedelta(days=10))
    assert (await engine.settlement.sweep())["forfeited"] == 1
    assert intent_status(fake, intent) == "succeeded"  # the forfeited deposit was captured
    shares = [p for p in await engine.settlement.payouts(sale.parties.seller) if p["purpose"] == "forfeit_share"]
    assert [(p["provider"], p["amount"]) for p in shares] == [
        ("stripe", DEPOSIT * engine.trades.rules.forfeit_seller_share_bp // 10_000)]
    assert (await engine.trades.trade(sale.parties.operator, trade["id"]))["status"] == "forfeited"
    await invariants_hold(engine)


async def test_the_part_of_a_card_deposit_above_the_price_is_refunded_to_the_card(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    intent = await paid_by_card(client, fake, sale, 0)
    await deliver_all(client, fake)
    await open_and_close(engine, clock, sale, [(0, 100_000)])  # a price below the deposit
    await engine.settlement.sweep()  # captures the deposit, then refunds the excess to the card
    await engine.settlement.sweep()
    refunds = [r for r in fake.state.refunds.values() if r["payment_intent"] == intent]
    assert [r["amount"] for r in refunds] == [DEPOSIT - 100_000]
    excess = [p for p in await engine.settlement.payouts(sale.parties.investors[0]) if p["purpose"] == "refund"]
    assert [(p["provider"], p["status"], p["amount"]) for p in excess] == [("stripe", "sent", DEPOSIT - 100_000)]
    await invariants_hold(engine)


async def test_a_balance_paid_twice_by_card_is_recorded_twice_and_the_second_payment_refunded(
    engine: Services, client: httpx.AsyncClient, fake: FakeStripe, clock: FixedClock,
) -> None:
    sale = await qualified_auction(engine, clock, investors=2)
    for i in range(2):
        await paid_by_card(client, fake, sale, i)
    await deliver_all(client, fake)
    await open_and_close(engine, clock, sale, [(1, 6_000_000), (0, PRICE)])
    buyer, operator = sale.parties.investors[0], sale.parties.operator
    trade = (await engine.trades.trades(operator))[0]
    await engine.trades.confirm_contract(buyer, trade["id"])
    due = (await engine.trades.trade(buyer, trade["id"]))["balance_due"]
    headers = await token_for(client, buyer.email)
    intents = []
    for _ in range(2):  # two tabs, two checkouts, both paid
        checkout = await client.post(f"/api/trades/{trade['id']}/card", json=BACK, headers=headers)
        assert checkout.status_code == 201, checkout.text
        await pay_on_hosted_page(checkout.json())
        intents.append(fake.state.sessions[checkout.json()["session_id"]]["payment_intent"])
        clock.advance(timedelta(seconds=2))
    assert [fake.state.intents[i]["amount_received"] for i in intents] == [due, due]
    await deliver_all(client, fake)
    await deliver_all(client, fake)  # every event again: nothing twice

    assert (await engine.trades.trade(buyer, trade["id"]))["status"] == "awaiting_delivery"
    async with engine.pool.acquire() as conn:
        payments = await conn.fetch("SELECT external_ref, purpose, amount FROM payments "
                                    "WHERE trade_id = $1 ORDER BY id", trade["id"])
    assert [(p["external_ref"], p["purpose"], p["amount"]) for p in payments] == [
        (intents[0], "balance", due), (intents[1], "overpayment", due)]
    refunds = [p for p in await engine.settlement.payouts(buyer) if p["purpose"] == "refund" and p["amount"] == due]
    assert len(refunds) == 1 and refunds[0]["status"] == "to_send"
    await engine.settlement.sweep()
    assert [(r["payment_intent"], r["amount"]) for r in fake.state.refunds.values()] == [(intents[1], due)]
    assert [p["status"] for p in await engine.settlement.payouts(buyer)
            if p["purpose"] == "refund" and p["amount"] == due] == ["sent"]
    await invariants_hold(engine)


async def test_the_ledger_check_fails_while_a_captured_card_payment_is_not_in_the_ledger(
    engine: Services,
) -> None:
    async with engine.pool.acquire() as conn:
        await conn.execute("""INSERT INTO card_payments (intent_id, purpose, reference, amount, currency, seen_at)
                              VALUES ('pi_lost', 'balance', 'T1', 100, 'CNY', now())""")
        failures = await check(conn)
    assert [f.invariant for f in failures] == ["every card payment of a balance captured is in the ledger, for its amount"]
    assert failures[0].entries[0]["intent_id"] == "pi_lost"
