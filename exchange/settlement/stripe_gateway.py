"""The card processor through Stripe's own SDK: Checkout Sessions, PaymentIntents with manual
capture for deposits (保证金), refunds, Connect transfers for sellers, and signed webhooks.

Every mutating call carries the caller's idempotency key, so a call repeated after a crash or
a timeout has one effect at Stripe. Stripe's errors become the exchange's own: an outage is
CardProcessorUnavailable, a refused request is Conflict or ValidationFailed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import stripe

from exchange.errors import Conflict, ExchangeError, ValidationFailed
from exchange.settlement.cards import (
    STRIPE_TOLERANCE_S,
    CardCheckout,
    CardEvent,
    CardGateway,
    CardProcessorUnavailable,
    IntentState,
    InvalidCardEvent,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNEXPECTED_STATE = "payment_intent_unexpected_state"


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, handing the form body to httpx as `content`: httpx deprecates
    raw text passed as `data`, which is what the SDK does."""

    def _get_request_args_kwargs(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any,
    ) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        kwargs.pop("data", None)
        if post_data:
            kwargs["content"] = post_data
        return [args, kwargs]


class StripeGateway:
    """CardGateway on Stripe. `api_base` points the SDK elsewhere (a local fake in tests);
    `clock_now` is the time source for the webhook timestamp check."""

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        clock_now: Callable[[], float] | None = None,
        *,
        max_network_retries: int = 2,
        timeout_s: float = 20.0,
    ) -> None:
        if not secret_key or not webhook_secret:
            raise ValueError("a Stripe secret key and a webhook signing secret are both required")
        self._webhook_secret = webhook_secret
        self._now = clock_now or time.time
        self._http = _HTTPXClient(timeout=timeout_s)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StripeGateway | None:
        """The gateway configured by STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and the optional
        STRIPE_API_BASE; None when card payments are not configured."""
        env = os.environ if environ is None else environ
        secret_key = env.get("STRIPE_SECRET_KEY") or ""
        webhook_secret = env.get("STRIPE_WEBHOOK_SECRET") or ""
        if not secret_key and not webhook_secret:
            return None
        if not secret_key or not webhook_secret:
            raise SystemExit("STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set together")
        return cls(secret_key, webhook_secret, env.get("STRIPE_API_BASE") or None)

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def checkout(
        self, *, reference: str, purpose: Literal["deposit", "balance"], amount: int, currency: str,
        manual_capture: bool, description: str, customer_email: str, success_url: str,
        cancel_url: str, idempotency_key: str,
    ) -> CardCheckout:
        metadata = {"reference": reference, "purpose": purpose}
        params: Any = {
            "mode": "payment",
            "client_reference_id": reference,
            "customer_email": customer_email,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": amount,
                    "product_data": {"name": description},
                },
            }],
            "payment_intent_data": {
                "capture_method": "manual" if manual_capture else "automatic",
                "description": description,
                "metadata": metadata,
            },
        }
        session = await _call(self._client.v1.checkout.sessions.create_async(
            params, {"idempotency_key": idempotency_key}))
        if not session.url:
            raise CardProcessorUnavailable("Stripe created a checkout session without a page")
        return CardCheckout(session_id=session.id, url=session.url)

    async def checkout_intent(self, session_id: str) -> str | None:
        """The PaymentIntent behind a checkout session; None until the payer has paid
        (Stripe creates the intent lazily, so the session's own answer is the only link)."""
        session = await _call(self._client.v1.checkout.sessions.retrieve_async(session_id))
        return _id_of(session.payment_intent)

    async def intent(self, intent_id: str) -> IntentState:
        return _state(await _call(self._client.v1.payment_intents.retrieve_async(intent_id)))

    async def capture(self, intent_id: str, idempotency_key: str) -> IntentState:
        return await self._move(intent_id, "succeeded", self._client.v1.payment_intents.capture_async(
            intent_id, None, {"idempotency_key": idempotency_key}))

    async def cancel(self, intent_id: str, idempotency_key: str) -> IntentState:
        return await self._move(intent_id, "canceled", self._client.v1.payment_intents.cancel_async(
            intent_id, None, {"idempotency_key": idempotency_key}))

    async def refund(self, intent_id: str, amount: int, idempotency_key: str) -> str:
        refund = await _call(self._client.v1.refunds.create_async(
            {"payment_intent": intent_id, "amount": amount}, {"idempotency_key": idempotency_key}))
        return str(refund.id)

    async def transfer(
        self, destination: str, amount: int, currency: str, transfer_group: str, idempotency_key: str,
    ) -> str:
        transfer = await _call(self._client.v1.transfers.create_async(
            {"amount": amount, "currency": currency.lower(), "destination": destination,
             "transfer_group": transfer_group},
            {"idempotency_key": idempotency_key}))
        return str(transfer.id)

    def verify(self, payload: bytes, signature_header: str) -> CardEvent:
        """The header is read once, as the SDK reads it, and refused when it could be read two
        ways (two timestamps: one the SDK verifies, another a tolerance check would read); the SDK
        checks the signature, the timestamp is checked here against the injected clock (the SDK's
        own check reads time.time()). A signed body that is no event is refused too, never a 500,
        so the sender stops retrying it; each refusal is logged once, here."""
        try:
            signed_at = _signed_at(signature_header)
            try:
                stripe.WebhookSignature.verify_header(
                    payload, signature_header, self._webhook_secret, tolerance=None)
            except stripe.SignatureVerificationError as exc:
                raise InvalidCardEvent(f"webhook signature refused: {exc.user_message or exc}") from exc
            if signed_at < self._now() - STRIPE_TOLERANCE_S:
                raise InvalidCardEvent(
                    f"webhook signed {int(self._now() - signed_at)} s ago, more than the "
                    f"{STRIPE_TOLERANCE_S} s tolerance")
            return _event(self._client, payload)
        except InvalidCardEvent as refused:
            log.warning("refused a card processor webhook: %s", refused.detail)
            raise

    async def _move(self, intent_id: str, target: str, call: Awaitable[Any]) -> IntentState:
        """Capture or cancel; an intent already in the target state (a retry under a fresh key
        after a crash) is an answer, not an error."""
        try:
            return _state(await call)
        except stripe.InvalidRequestError as exc:
            if exc.code == _UNEXPECTED_STATE:
                state = await self.intent(intent_id)
                if state.status == target:
                    return state
            raise _exchange_error(exc) from exc
        except stripe.StripeError as exc:
            raise _exchange_error(exc) from exc


def _signed_at(header: str) -> int:
    """The one timestamp of a Stripe-Signature header, split as the SDK splits it (on commas, then
    at the first "="; keys as they are), refusing a header where a key that reads as "t" appears
    more than once or only with spaces around it: the SDK and this check must read the same time."""
    items = [item.split("=", 1) for item in header.split(",")]
    stamps = [pair for pair in items if pair[0].strip() == "t"]
    if len(stamps) != 1 or stamps[0][0] != "t" or len(stamps[0]) != 2 or not stamps[0][1].isdigit():
        raise InvalidCardEvent("webhook signature needs exactly one timestamp, t=<unix time>")
    return int(stamps[0][1])


MAX_EVENT_DEPTH = 32


def _event(client: Any, payload: bytes) -> CardEvent:
    try:
        if _depth(json.loads(payload)) > MAX_EVENT_DEPTH:
            raise InvalidCardEvent(f"webhook body is nested deeper than {MAX_EVENT_DEPTH} levels")
        event = client.construct_event_without_verification(payload)
        body = event.data.object.to_dict()
        event_id, event_type = getattr(event, "id", None), getattr(event, "type", None)
    except InvalidCardEvent:
        raise
    except (ValueError, AttributeError, KeyError, TypeError, RecursionError) as exc:
        raise InvalidCardEvent("webhook body is not a Stripe event") from exc
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise InvalidCardEvent("webhook event has no id or type")
    intent = body.get("id") if body.get("object") == "payment_intent" else body.get("payment_intent")
    return CardEvent(id=event_id, type=event_type, payment_intent=_id_of(intent))


def _depth(value: Any, limit: int = MAX_EVENT_DEPTH + 1) -> int:
    """How deeply `value` nests (counting stops past `limit`, without recursion)."""
    deepest, level = 0, [value]
    while level and deepest <= limit:
        deepest += 1
        level = [child for item in level if isinstance(item, dict | list)
                 for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _id_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    found = getattr(value, "id", None)
    return found if isinstance(found, str) else None


def _state(intent: Any) -> IntentState:
    metadata = intent.metadata.to_dict() if intent.metadata is not None else {}
    return IntentState(
        id=intent.id,
        status=intent.status,
        amount=int(intent.amount),
        amount_capturable=int(intent.amount_capturable or 0),
        amount_received=int(intent.amount_received or 0),
        currency=str(intent.currency).upper(),
        metadata={str(k): str(v) for k, v in metadata.items()},
    )


async def _call(call: Awaitable[T]) -> T:
    try:
        return await call
    except stripe.StripeError as exc:
        raise _exchange_error(exc) from exc


def _exchange_error(exc: stripe.StripeError) -> ExchangeError:
    """Stripe's error as the exchange's: an outage or a refused key is the processor being
    unavailable; anything else is a refusal the user can read."""
    message = str(exc.user_message or exc.code or type(exc).__name__)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError):
        return CardProcessorUnavailable(f"Stripe is unreachable: {message}")
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return CardProcessorUnavailable(f"Stripe refused the exchange's key: {message}")
    if isinstance(exc, stripe.IdempotencyError):
        return Conflict(f"Stripe refused a reused idempotency key: {message}")
    if isinstance(exc, stripe.CardError):
        return Conflict(f"The card was declined: {message}")
    if isinstance(exc, stripe.InvalidRequestError) and exc.param and exc.code != _UNEXPECTED_STATE:
        return ValidationFailed(message, field_errors={str(exc.param): message})
    return Conflict(message)


if TYPE_CHECKING:
    def _is_a_card_gateway(gateway: StripeGateway) -> CardGateway:
        return gateway
