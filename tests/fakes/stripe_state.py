"""The objects behind the fake Stripe API and their state rules, without HTTP.

Shapes and error bodies follow Stripe's v1 API for the calls the exchange makes: Checkout
Sessions (PaymentIntent created when the payer pays), capture only from requires_capture,
cancel not after succeeded, refunds up to what was received, transfers to known accounts.
"""

from __future__ import annotations

import copy
import itertools
import secrets
from collections.abc import Callable
from typing import Any

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation",
              "requires_action", "processing")


class StripeFailure(Exception):
    """An error answer. `saved` says whether Stripe keeps it under the idempotency key
    (it does once the endpoint began executing, not for a request it never accepted)."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, saved: bool = True, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.saved = saved
        self.error: dict[str, Any] = {"type": type_, "message": message, **extra}
        if code:
            self.error["code"] = code
        if param:
            self.error["param"] = param

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


def invalid(message: str, *, code: str | None = None, param: str | None = None,
            status: int = 400, saved: bool = True, **extra: Any) -> StripeFailure:
    return StripeFailure(status, "invalid_request_error", message, code=code, param=param,
                         saved=saved, **extra)


def missing(kind: str, object_id: str, param: str = "id") -> StripeFailure:
    return invalid(f"No such {kind}: '{object_id}'", code="resource_missing", param=param,
                   status=404, saved=False)


def required(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise invalid(f"Missing required param: {name}.", code="parameter_missing",
                          param=name, saved=False)


def as_int(params: dict[str, Any], name: str) -> int:
    raw = params.get(name)
    if not isinstance(raw, str) or not raw.isdigit():
        raise invalid(f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name,
                      saved=False)
    return int(raw)


class Ledger:
    """Every object the fake knows, and the events their changes produce."""

    def __init__(self, now: Callable[[], float], base_url: Callable[[], str]) -> None:
        self.now = now
        self.base_url = base_url
        self.sessions: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.fresh_events: list[dict[str, Any]] = []  # raised by the current request
        self._numbers = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._numbers):06d}{secrets.token_hex(6)}"

    def emit(self, type_: str, obj: dict[str, Any], request: dict[str, Any] | None) -> None:
        event = {
            "id": self.new_id("evt"), "object": "event", "api_version": "2025-01-27.acacia",
            "created": int(self.now()), "livemode": False, "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": type_, "data": {"object": copy.deepcopy(obj)},
        }
        self.events.append(event)
        self.fresh_events.append(event)

    # Checkout

    def create_session(self, p: dict[str, Any]) -> dict[str, Any]:
        required(p, "mode", "success_url", "line_items")
        if p["mode"] != "payment":
            raise invalid("The fake supports mode=payment only.", param="mode", saved=False)
        items = p["line_items"]
        if not isinstance(items, list) or len(items) != 1:
            raise invalid("Exactly one line item is supported.", param="line_items", saved=False)
        price = items[0].get("price_data") or {}
        required(price, "currency")
        unit_amount = as_int(price, "unit_amount")
        quantity = as_int(items[0], "quantity")
        intent_data = p.get("payment_intent_data") or {}
        capture_method = intent_data.get("capture_method", "automatic_async")
        if capture_method not in ("manual", "automatic", "automatic_async"):
            raise invalid(f"Invalid capture_method: {capture_method}",
                          param="payment_intent_data[capture_method]", saved=False)
        session_id = "cs_test_" + secrets.token_hex(12)
        session = {
            "id": session_id, "object": "checkout.session", "mode": "payment",
            "amount_total": unit_amount * quantity, "currency": price["currency"],
            "client_reference_id": p.get("client_reference_id"),
            "customer_email": p.get("customer_email"), "created": int(self.now()),
            "expires_at": int(self.now()) + 86_400, "livemode": False,
            "metadata": p.get("metadata") or {}, "payment_intent": None,
            "payment_status": "unpaid", "status": "open",
            "success_url": p["success_url"], "cancel_url": p.get("cancel_url"),
            "url": f"{self.base_url()}/pay/{session_id}",
            # Not part of Stripe's answer; kept for the intent made at payment.
            "_intent_data": {"capture_method": capture_method,
                             "metadata": intent_data.get("metadata") or {},
                             "description": intent_data.get("description"),
                             "product": (price.get("product_data") or {}).get("name")},
        }
        self.sessions[session_id] = session
        return session

    def session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise missing("checkout.session", session_id)
        return self.sessions[session_id]

    def expire_session(self, session_id: str, request: dict[str, Any]) -> dict[str, Any]:
        session = self.session(session_id)
        if session["status"] != "open":
            raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired. "
                          f"This Checkout Session has a status of \"{session['status']}\".",
                          code="checkout_session_unexpected_state")
        session["status"] = "expired"
        self.emit("checkout.session.expired", public(session), request)
        return session

    def pay(self, session_id: str, *, decline: bool = False) -> dict[str, Any]:
        """The payer submits the hosted page: the PaymentIntent is made and authorised."""
        session = self.session(session_id)
        if session["status"] != "open":
            raise invalid(f"This Checkout Session is {session['status']}.",
                          code="checkout_session_unexpected_state")
        data = session["_intent_data"]
        manual = data["capture_method"] == "manual"
        intent = self.intents.get(session["payment_intent"] or "") or self._new_intent(session)
        session["payment_intent"] = intent["id"]
        if decline:
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"type": "card_error", "code": "card_declined",
                                            "decline_code": "generic_decline",
                                            "message": "Your card was declined."}
            self.emit("payment_intent.payment_failed", intent, None)
            return intent
        charge = {"id": self.new_id("ch"), "object": "charge", "amount": intent["amount"],
                  "amount_captured": 0 if manual else intent["amount"], "amount_refunded": 0,
                  "captured": not manual, "currency": intent["currency"], "paid": True,
                  "payment_intent": intent["id"], "refunded": False, "status": "succeeded",
                  "created": int(self.now()), "metadata": dict(intent["metadata"])}
        self.charges[charge["id"]] = charge
        intent.update(latest_charge=charge["id"], last_payment_error=None,
                      payment_method=self.new_id("pm"))
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self.emit("payment_intent.amount_capturable_updated", intent, None)
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
            self.emit("payment_intent.succeeded", intent, None)
        session.update(status="complete", payment_status="unpaid" if manual else "paid")
        self.emit("checkout.session.completed", public(session), None)
        return intent

    def _new_intent(self, session: dict[str, Any]) -> dict[str, Any]:
        data = session["_intent_data"]
        intent = {
            "id": self.new_id("pi"), "object": "payment_intent", "amount": session["amount_total"],
            "amount_capturable": 0, "amount_received": 0, "canceled_at": None,
            "cancellation_reason": None, "capture_method": data["capture_method"],
            "created": int(self.now()), "currency": session["currency"],
            "description": data["description"], "latest_charge": None, "livemode": False,
            "metadata": dict(data["metadata"]), "status": "requires_payment_method",
        }
        self.intents[intent["id"]] = intent
        return intent

    # PaymentIntents

    def intent(self, intent_id: str) -> dict[str, Any]:
        if intent_id not in self.intents:
            raise missing("payment_intent", intent_id, param="intent")
        return self.intents[intent_id]

    def capture(self, intent_id: str, p: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(intent_id)
        if intent["status"] != "requires_capture":
            raise invalid(
                f"This PaymentIntent could not be captured because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be captured: requires_capture.",
                code="payment_intent_unexpected_state", payment_intent=copy.deepcopy(intent))
        amount = as_int(p, "amount_to_capture") if "amount_to_capture" in p else intent["amount_capturable"]
        if amount > intent["amount_capturable"]:
            raise invalid("The amount to capture is greater than the amount capturable.",
                          code="amount_too_large", param="amount_to_capture")
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.charges[intent["latest_charge"]].update(captured=True, amount_captured=amount)
        self.emit("payment_intent.succeeded", intent, request)
        return intent

    def cancel(self, intent_id: str, p: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        intent = self.intent(intent_id)
        if intent["status"] not in CANCELABLE:
            raise invalid(
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}. Only a PaymentIntent with one of the following statuses "
                f"may be canceled: {', '.join(CANCELABLE)}.",
                code="payment_intent_unexpected_state", payment_intent=copy.deepcopy(intent))
        intent.update(status="canceled", amount_capturable=0, canceled_at=int(self.now()),
                      cancellation_reason=p.get("cancellation_reason"))
        self.emit("payment_intent.canceled", intent, request)
        return intent

    # Refunds, accounts, transfers

    def refund(self, p: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        required(p, "payment_intent")
        intent = self.intent(p["payment_intent"])
        charge = self.charges.get(intent["latest_charge"] or "")
        if intent["status"] != "succeeded" or charge is None:
            raise invalid(f"This PaymentIntent ({intent['id']}) does not have a successful "
                          f"charge to refund.", code="charge_not_refundable")
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left == 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.",
                          code="charge_already_refunded")
        amount = as_int(p, "amount") if "amount" in p else left
        if amount > left:
            raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on "
                          f"charge ({left})", param="amount")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        refund = {"id": self.new_id("re"), "object": "refund", "amount": amount,
                  "charge": charge["id"], "currency": charge["currency"],
                  "payment_intent": intent["id"], "status": "succeeded",
                  "created": int(self.now()), "metadata": p.get("metadata") or {}}
        self.refunds[refund["id"]] = refund
        self.emit("charge.refunded", charge, request)
        return refund

    def add_account(self, p: dict[str, Any]) -> dict[str, Any]:
        account = {"id": "acct_" + secrets.token_hex(8), "object": "account",
                   "type": p.get("type", "express"), "country": p.get("country", "CN"),
                   "email": p.get("email"), "charges_enabled": True, "payouts_enabled": True,
                   "created": int(self.now()), "metadata": p.get("metadata") or {}}
        self.accounts[account["id"]] = account
        return account

    def transfer(self, p: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        required(p, "amount", "currency", "destination")
        amount = as_int(p, "amount")
        if p["destination"] not in self.accounts:
            raise invalid(f"No such destination: '{p['destination']}'", param="destination")
        transfer = {"id": self.new_id("tr"), "object": "transfer", "amount": amount,
                    "amount_reversed": 0, "currency": p["currency"],
                    "destination": p["destination"], "transfer_group": p.get("transfer_group"),
                    "reversed": False, "created": int(self.now()),
                    "metadata": p.get("metadata") or {}}
        self.transfers[transfer["id"]] = transfer
        self.emit("transfer.created", transfer, request)
        return transfer

    def event(self, event_id: str) -> dict[str, Any]:
        for event in self.events:
            if event["id"] == event_id:
                return event
        raise missing("event", event_id)


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """An object as the API shows it: without the fake's own bookkeeping."""
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}
