"""The Stripe gateway, with the real SDK, against the local fake of Stripe's API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from exchange.errors import Conflict, ValidationFailed
from exchange.settlement.cards import (
    STRIPE_TOLERANCE_S,
    CardProcessorUnavailable,
    InvalidCardEvent,
)
from exchange.settlement.stripe_gateway import StripeGateway
from tests.fakes.stripe_api import FakeStripe

NOW = 1_772_416_800.0  # 2026-03-02 02:00 UTC
DEPOSIT = 5_000_000  # 50,000.00 yuan in fen


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeStripe]:
    with FakeStripe(now=clock) as running:
        yield running


@pytest.fixture
async def gateway(fake: FakeStripe, clock: Clock) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(fake.secret_key, fake.webhook_secret, fake.api_base, clock)
    yield gateway
    await gateway.aclose()


async def open_checkout(gateway: StripeGateway, *, manual: bool = True, amount: int = DEPOSIT,
                        key: str = "checkout-D2026000012") -> str:
    checkout = await gateway.checkout(
        reference="D2026000012", purpose="deposit" if manual else "balance", amount=amount,
        currency="CNY", manual_capture=manual, description="保证金 Deposit for lot L-7",
        customer_email="vc@capital.test", success_url="http://exchange.test/paid?s={CHECKOUT_SESSION_ID}",
        cancel_url="http://exchange.test/deposit", idempotency_key=key)
    return checkout.session_id


async def authorised_deposit(gateway: StripeGateway, fake: FakeStripe) -> str:
    session_id = await open_checkout(gateway)
    fake.pay(session_id)
    intent_id = await gateway.checkout_intent(session_id)
    assert intent_id is not None
    return intent_id


async def test_deposit_checkout_is_authorised_not_charged(gateway: StripeGateway, fake: FakeStripe) -> None:
    session_id = await open_checkout(gateway)
    sent = fake.requests[0].params
    assert sent["payment_intent_data"]["capture_method"] == "manual"
    assert sent["payment_intent_data"]["metadata"] == {"reference": "D2026000012", "purpose": "deposit"}
    assert sent["line_items"][0]["price_data"] == {
        "currency": "cny", "unit_amount": str(DEPOSIT), "product_data": {"name": "保证金 Deposit for lot L-7"}}
    assert await gateway.checkout_intent(session_id) is None  # Stripe makes the intent at payment

    fake.pay(session_id)
    intent = await gateway.intent(await gateway.checkout_intent(session_id) or "")

    assert intent.status == "requires_capture"
    assert (intent.amount, intent.amount_capturable, intent.amount_received) == (DEPOSIT, DEPOSIT, 0)
    assert intent.currency == "CNY"
    assert intent.metadata == {"reference": "D2026000012", "purpose": "deposit"}


async def test_hosted_page_takes_the_payment_and_returns_the_payer(gateway: StripeGateway, fake: FakeStripe) -> None:
    checkout = await gateway.checkout(
        reference="T2026000003", purpose="balance", amount=123_456, currency="CNY", manual_capture=False,
        description="Balance", customer_email="vc@capital.test",
        success_url="http://exchange.test/paid?s={CHECKOUT_SESSION_ID}", cancel_url="http://exchange.test/",
        idempotency_key="balance-T2026000003")
    async with httpx.AsyncClient() as browser:
        page = await browser.get(checkout.url)
        assert page.status_code == 200 and "Pay" in page.text and "1234.56 CNY" in page.text
        paid = await browser.post(checkout.url, data={"action": "pay"})

    assert paid.status_code == 303
    assert paid.headers["location"] == f"http://exchange.test/paid?s={checkout.session_id}"
    intent = await gateway.intent(await gateway.checkout_intent(checkout.session_id) or "")
    assert (intent.status, intent.amount_received, intent.amount_capturable) == ("succeeded", 123_456, 0)
    assert [e["type"] for e in fake.events] == ["payment_intent.succeeded", "checkout.session.completed"]


async def test_capture_takes_the_authorised_deposit(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)

    captured = await gateway.capture(intent_id, "capture-D2026000012")

    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", DEPOSIT, 0)
    assert (await gateway.intent(intent_id)).status == "succeeded"


async def test_cancel_releases_the_hold_and_nothing_can_be_captured(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)

    cancelled = await gateway.cancel(intent_id, "cancel-D2026000012")
    assert (cancelled.status, cancelled.amount_capturable) == ("canceled", 0)

    with pytest.raises(Conflict, match="status of canceled"):
        await gateway.capture(intent_id, "capture-D2026000012")


async def test_a_captured_deposit_cannot_be_cancelled(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    await gateway.capture(intent_id, "capture-1")

    with pytest.raises(Conflict, match="cannot cancel this PaymentIntent"):
        await gateway.cancel(intent_id, "cancel-1")
    assert (await gateway.intent(intent_id)).status == "succeeded"


async def test_refund_returns_part_of_a_captured_payment(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    await gateway.capture(intent_id, "capture-1")

    refund_id = await gateway.refund(intent_id, 1_000_000, "refund-1")

    assert refund_id.startswith("re_")
    assert fake.state.refunds[refund_id]["amount"] == 1_000_000
    with pytest.raises(ValidationFailed, match="greater than unrefunded amount") as refused:
        await gateway.refund(intent_id, DEPOSIT, "refund-2")
    assert "amount" in refused.value.field_errors


async def test_an_uncaptured_deposit_is_not_refunded(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    with pytest.raises(Conflict, match="does not have a successful charge"):
        await gateway.refund(intent_id, DEPOSIT, "refund-1")


async def test_transfer_pays_a_connected_account(gateway: StripeGateway, fake: FakeStripe) -> None:
    seller = fake.add_connected_account()

    transfer_id = await gateway.transfer(seller, 4_850_000, "CNY", "T2026000003", "payout-T2026000003")

    sent = fake.state.transfers[transfer_id]
    assert (sent["destination"], sent["amount"], sent["currency"], sent["transfer_group"]) == (
        seller, 4_850_000, "cny", "T2026000003")


async def test_transfer_to_an_unknown_account_is_refused_clearly(gateway: StripeGateway, fake: FakeStripe) -> None:
    with pytest.raises(ValidationFailed, match="No such destination: 'acct_nobody'") as refused:
        await gateway.transfer("acct_nobody", 100, "CNY", "T1", "payout-T1")
    assert set(refused.value.field_errors) == {"destination"}
    assert fake.state.transfers == {}


async def test_every_mutating_call_carries_the_callers_key(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    await gateway.capture(intent_id, "k-capture")
    await gateway.refund(intent_id, 1, "k-refund")
    await gateway.transfer(fake.add_connected_account(), 1, "CNY", "T1", "k-transfer")

    posts = [(r.path.split("/")[2], r.idempotency_key) for r in fake.requests if r.method == "POST"]
    assert posts == [("checkout", "checkout-D2026000012"), ("payment_intents", "k-capture"),
                     ("refunds", "k-refund"), ("transfers", "k-transfer")]


async def test_a_repeated_capture_under_one_key_has_one_effect(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)

    first = await gateway.capture(intent_id, "capture-D2026000012")
    again = await gateway.capture(intent_id, "capture-D2026000012")

    assert first == again
    assert [r.replayed for r in fake.requests if r.path.endswith("/capture")] == [False, True]
    assert len(fake.events_of("payment_intent.succeeded")) == 1


async def test_capture_under_a_fresh_key_after_success_answers_the_captured_intent(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    await gateway.capture(intent_id, "capture-before-crash")

    after_restart = await gateway.capture(intent_id, "capture-after-crash")

    assert (after_restart.status, after_restart.amount_received) == ("succeeded", DEPOSIT)
    assert len(fake.events_of("payment_intent.succeeded")) == 1


async def test_a_key_reused_for_a_different_request_is_refused(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    await gateway.capture(intent_id, "capture-1")
    await gateway.refund(intent_id, 100, "refund-1")

    with pytest.raises(Conflict, match="same parameters"):
        await gateway.refund(intent_id, 200, "refund-1")
    assert [r["amount"] for r in fake.state.refunds.values()] == [100]


def sign_event(fake: FakeStripe, **kwargs: Any) -> tuple[dict[str, Any], bytes, str]:
    event = fake.events_of("payment_intent.amount_capturable_updated")[0]
    delivery = fake.sign(event, **kwargs)
    return event, delivery.payload, delivery.header


async def test_verify_accepts_a_genuine_webhook(gateway: StripeGateway, fake: FakeStripe) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    held = {d.event["type"]: d for d in fake.take_held()}

    authorised = gateway.verify(held["payment_intent.amount_capturable_updated"].payload,
                                held["payment_intent.amount_capturable_updated"].header)
    completed = gateway.verify(held["checkout.session.completed"].payload,
                               held["checkout.session.completed"].header)

    assert (authorised.type, authorised.payment_intent) == ("payment_intent.amount_capturable_updated", intent_id)
    assert authorised.id == held["payment_intent.amount_capturable_updated"].event["id"]
    assert (completed.type, completed.payment_intent) == ("checkout.session.completed", intent_id)


async def test_verify_refuses_a_signature_made_with_another_secret(gateway: StripeGateway, fake: FakeStripe) -> None:
    await authorised_deposit(gateway, fake)
    _, payload, header = sign_event(fake, secret="whsec_attacker")
    with pytest.raises(InvalidCardEvent, match="signature"):
        gateway.verify(payload, header)


async def test_verify_refuses_a_changed_body(gateway: StripeGateway, fake: FakeStripe) -> None:
    await authorised_deposit(gateway, fake)
    _, payload, header = sign_event(fake)
    with pytest.raises(InvalidCardEvent):
        gateway.verify(payload.replace(str(DEPOSIT).encode(), b"1"), header)


async def test_verify_refuses_when_the_gateway_has_the_wrong_secret(fake: FakeStripe, clock: Clock) -> None:
    other = StripeGateway(fake.secret_key, "whsec_rotated_elsewhere", fake.api_base, clock)
    fake.state.emit("payment_intent.canceled", {"id": "pi_1", "object": "payment_intent"}, None)
    delivery = fake.sign(fake.events[-1])
    with pytest.raises(InvalidCardEvent):
        other.verify(delivery.payload, delivery.header)
    await other.aclose()


async def test_verify_refuses_a_missing_or_garbled_header(gateway: StripeGateway, fake: FakeStripe) -> None:
    await authorised_deposit(gateway, fake)
    _, payload, header = sign_event(fake)
    for bad in ["", "garbage", header.split(",")[1], f"t=abc,{header.split(',')[1]}"]:
        with pytest.raises(InvalidCardEvent):
            gateway.verify(payload, bad)


async def test_verify_refuses_a_signature_older_than_the_tolerance(
    gateway: StripeGateway, fake: FakeStripe, clock: Clock,
) -> None:
    await authorised_deposit(gateway, fake)
    _, payload, header = sign_event(fake, signed_at=clock.now - STRIPE_TOLERANCE_S - 1)
    with pytest.raises(InvalidCardEvent, match="tolerance"):
        gateway.verify(payload, header)


async def test_verify_accepts_a_signature_within_the_tolerance(
    gateway: StripeGateway, fake: FakeStripe, clock: Clock,
) -> None:
    await authorised_deposit(gateway, fake)
    event, payload, header = sign_event(fake, signed_at=clock.now - STRIPE_TOLERANCE_S + 1)
    assert gateway.verify(payload, header).id == event["id"]
    clock.now += 2  # the same delivery, replayed two seconds later, is now stale
    with pytest.raises(InvalidCardEvent, match="tolerance"):
        gateway.verify(payload, header)


async def test_verify_refuses_a_signed_body_that_is_not_an_event(gateway: StripeGateway, fake: FakeStripe) -> None:
    for payload in [b'{"id": "ch_1", "object": "charge"}', b"not json"]:
        with pytest.raises(InvalidCardEvent, match="not a Stripe event"):
            gateway.verify(payload, fake.signature(payload))


async def test_an_outage_is_card_processor_unavailable(fake: FakeStripe, clock: Clock) -> None:
    gateway = StripeGateway(fake.secret_key, fake.webhook_secret, fake.api_base, clock, max_network_retries=0)
    fake.fail_next(1)
    with pytest.raises(CardProcessorUnavailable):
        await gateway.transfer(fake.add_connected_account(), 100, "CNY", "T1", "payout-T1")
    assert fake.state.transfers == {}
    await gateway.aclose()


async def test_a_closed_port_is_card_processor_unavailable(clock: Clock) -> None:
    with FakeStripe(now=clock) as gone:
        base = gone.api_base
    gateway = StripeGateway("sk_test_x", "whsec_x", base, clock, max_network_retries=0)
    with pytest.raises(CardProcessorUnavailable):
        await gateway.intent("pi_1")
    await gateway.aclose()


async def test_a_lost_answer_is_retried_under_the_same_key_with_one_effect(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    intent_id = await authorised_deposit(gateway, fake)
    fake.fail_next(1, applied=True)  # Stripe captured, then the connection dropped

    captured = await gateway.capture(intent_id, "capture-1")

    assert (captured.status, captured.amount_received) == ("succeeded", DEPOSIT)
    tries = [r for r in fake.requests if r.path.endswith("/capture")]
    assert [(r.idempotency_key, r.replayed) for r in tries] == [("capture-1", False), ("capture-1", True)]
    assert len(fake.events_of("payment_intent.succeeded")) == 1


async def test_a_rejected_secret_key_is_card_processor_unavailable(fake: FakeStripe, clock: Clock) -> None:
    gateway = StripeGateway("sk_test_wrong", fake.webhook_secret, fake.api_base, clock)
    with pytest.raises(CardProcessorUnavailable, match="key"):
        await gateway.intent("pi_1")
    await gateway.aclose()


def test_from_env_is_none_without_keys_and_refuses_half_a_configuration() -> None:
    assert StripeGateway.from_env({}) is None
    with pytest.raises(SystemExit, match="together"):
        StripeGateway.from_env({"STRIPE_SECRET_KEY": "sk_test_1"})
    configured = StripeGateway.from_env(
        {"STRIPE_SECRET_KEY": "sk_test_1", "STRIPE_WEBHOOK_SECRET": "whsec_1", "STRIPE_API_BASE": "http://127.0.0.1:9"})
    assert isinstance(configured, StripeGateway)


async def test_a_second_timestamp_in_the_header_cannot_make_an_old_delivery_look_fresh(
    gateway: StripeGateway, fake: FakeStripe, clock: Clock,
) -> None:
    await authorised_deposit(gateway, fake)
    old = clock.now - STRIPE_TOLERANCE_S - 100
    _, payload, header = sign_event(fake, signed_at=old)  # t=<old>,v1=<a genuine signature of then>
    stamp, signature = header.split(",")
    now = int(clock.now)
    for forged in [f"x=1, t={now},{stamp},{signature}", f"t={now},{stamp},{signature}",
                   f"{stamp}, t={now},{signature}", f" t={now},{signature}"]:
        with pytest.raises(InvalidCardEvent, match="exactly one timestamp|tolerance|signature"):
            gateway.verify(payload, forged)
    with pytest.raises(InvalidCardEvent, match="tolerance"):  # and the genuine header, as it is old
        gateway.verify(payload, header)


async def test_validly_signed_bodies_that_are_not_events_are_refused_not_crashed_on(
    gateway: StripeGateway, fake: FakeStripe,
) -> None:
    deep = b'{"id": "evt_1", "type": "x", "data": {"object": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    nested = b'{"id": "evt_1", "type": "x", "data": {"object": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}}"
    for payload in [b'{"object": "event", "data": {"object": {}}}', b'{"id": "evt_1", "data": {"object": {}}}',
                    b'{"id": 7, "type": "x", "data": {"object": {}}}', b'{"id": "evt_1", "type": "x"}',
                    b'{"id": "evt_1", "type": "x", "data": {"object": "x"}}', b"[]", deep, nested]:
        with pytest.raises(InvalidCardEvent):
            gateway.verify(payload, fake.signature(payload))
