"""The card processor as the settlement service sees it (Stripe in production).

Deposits are authorised and captured later (manual capture) or cancelled; balances are
captured at once; sellers are paid by transfers to their connected accounts. Every call
carries an idempotency key, so a call repeated after a crash has one effect.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from exchange.errors import ExchangeError

STRIPE_TOLERANCE_S = 300


class InvalidCardEvent(ExchangeError):
    """A webhook whose signature is missing, forged, or older than the tolerance."""

    status = 400
    title = "Invalid webhook"
    code = "invalid_webhook"


class CardProcessorUnavailable(ExchangeError):
    status = 503
    title = "Card payments unavailable"
    code = "card_processor_unavailable"


class CardCheckout(msgspec.Struct, frozen=True):
    session_id: str
    url: str


class IntentState(msgspec.Struct, frozen=True):
    """A PaymentIntent as the processor reports it now."""

    id: str
    status: str  # requires_payment_method | requires_capture | succeeded | canceled | ...
    amount: int
    amount_capturable: int
    amount_received: int
    currency: str  # upper case, as in the ledger
    metadata: dict[str, str]


class CardEvent(msgspec.Struct, frozen=True):
    """A verified webhook event: its id, type and the PaymentIntent it concerns, if any."""

    id: str
    type: str
    payment_intent: str | None


class CardGateway(Protocol):
    async def checkout(
        self, *, reference: str, purpose: Literal["deposit", "balance"], amount: int, currency: str,
        manual_capture: bool, description: str, customer_email: str, success_url: str,
        cancel_url: str, idempotency_key: str,
    ) -> CardCheckout:
        """A hosted checkout page; the PaymentIntent carries `reference` and `purpose` as metadata."""

    async def intent(self, intent_id: str) -> IntentState: ...

    async def capture(self, intent_id: str, idempotency_key: str) -> IntentState: ...

    async def cancel(self, intent_id: str, idempotency_key: str) -> IntentState: ...

    async def refund(self, intent_id: str, amount: int, idempotency_key: str) -> str:
        """The refund's id."""

    async def transfer(
        self, destination: str, amount: int, currency: str, transfer_group: str, idempotency_key: str,
    ) -> str:
        """A Connect transfer to a connected account; the transfer's id."""

    def verify(self, payload: bytes, signature_header: str) -> CardEvent:
        """The event, after checking its signature and its timestamp (tolerance 300 s);
        raises InvalidCardEvent otherwise."""
