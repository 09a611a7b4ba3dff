"""Escrow and settlement over HTTP: deposits, bank transfers, card payments, trades, payouts,
ledger lines, transaction certificates and the card processor's webhook."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from exchange.settlement.types import (
    BankTransfer,
    CardReturn,
    Delivery,
    ForfeitDecision,
    Objection,
    PayoutAccount,
    PayoutSent,
    Ruling,
)
from web.context import services, viewer

MAX_WEBHOOK_BYTES = 256_000


class DepositsApi(Controller):
    path = "/api/deposits"
    tags = ["settlement"]

    @get("/", summary="Your deposits (investors); every deposit, by status and auction (operators)", cache=False)
    async def index(
        self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None,
        auction_id: FromQuery[int | None] = None,
    ) -> list[dict[str, Any]]:
        return await services(request).settlement.deposits(viewer(request), status=status, auction_id=auction_id)

    @get("/{deposit_id:int}", summary="A deposit with its ledger lines", cache=False)
    async def one(self, request: Request[Any, Any, Any], deposit_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).settlement.deposit(viewer(request), deposit_id)

    @post("/{deposit_id:int}/card", status_code=201, summary="Pay a deposit by card: a hosted checkout page")
    async def card(self, request: Request[Any, Any, Any], deposit_id: FromPath[int], data: JSONBody[CardReturn]) -> dict[str, Any]:
        return await services(request).settlement.start_card_deposit(viewer(request), deposit_id, data)


class BankTransfersApi(Controller):
    path = "/api/bank-transfers"
    tags = ["settlement"]

    @post("/", status_code=201, summary="Confirm a bank statement line against a deposit or a balance (operators)")
    async def confirm(self, request: Request[Any, Any, Any], data: JSONBody[BankTransfer]) -> dict[str, Any]:
        return await services(request).settlement.confirm_bank_transfer(viewer(request), data)


class TradesApi(Controller):
    path = "/api/trades"
    tags = ["settlement"]

    @get("/", summary="Your trades as buyer or seller; every trade, by status (operators)", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await services(request).trades.trades(viewer(request), status=status)

    @get("/{trade_id:int}", summary="A trade with your ledger lines", cache=False)
    async def one(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).trades.trade(viewer(request), trade_id)

    @post("/{trade_id:int}/contract", status_code=200, summary="Confirm the contract (the buyer)")
    async def contract(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).trades.confirm_contract(viewer(request), trade_id)

    @post("/{trade_id:int}/card", status_code=201, summary="Pay the balance by card: a hosted checkout page")
    async def card(self, request: Request[Any, Any, Any], trade_id: FromPath[int], data: JSONBody[CardReturn]) -> dict[str, Any]:
        return await services(request).trades.start_card_balance(viewer(request), trade_id, data)

    @post("/{trade_id:int}/delivery", status_code=200, summary="Record the delivery (the seller)")
    async def delivery(self, request: Request[Any, Any, Any], trade_id: FromPath[int], data: JSONBody[Delivery]) -> dict[str, Any]:
        return await services(request).trades.record_delivery(viewer(request), trade_id, data)

    @post("/{trade_id:int}/accept", status_code=200, summary="Accept the delivery: the price is released (the buyer)")
    async def accept(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).trades.accept_delivery(viewer(request), trade_id)

    @post("/{trade_id:int}/objection", status_code=200, summary="Object to the delivery within the window (the buyer)")
    async def objection(self, request: Request[Any, Any, Any], trade_id: FromPath[int], data: JSONBody[Objection]) -> dict[str, Any]:
        return await services(request).trades.object_to_delivery(viewer(request), trade_id, data)

    @post("/{trade_id:int}/ruling", status_code=200, summary="Arbitrate an objection: release or rescind (operators)")
    async def ruling(self, request: Request[Any, Any, Any], trade_id: FromPath[int], data: JSONBody[Ruling]) -> dict[str, Any]:
        return await services(request).trades.rule_on_objection(viewer(request), trade_id, data)

    @post("/{trade_id:int}/next-step", status_code=200, summary="After a forfeiture: next bidder or relist (operators)")
    async def next_step(self, request: Request[Any, Any, Any], trade_id: FromPath[int], data: JSONBody[ForfeitDecision]) -> dict[str, Any]:
        return await services(request).trades.decide_after_forfeit(viewer(request), trade_id, data)


class PayoutsApi(Controller):
    path = "/api/payouts"
    tags = ["settlement"]

    @get("/", summary="Your payouts; every payout, by status (operators)", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await services(request).settlement.payouts(viewer(request), status=status)

    @post("/{payout_id:int}/sent", status_code=200, summary="Mark a bank payout sent (operators)")
    async def sent(self, request: Request[Any, Any, Any], payout_id: FromPath[int], data: JSONBody[PayoutSent]) -> dict[str, Any]:
        return await services(request).trades.mark_payout_sent(viewer(request), payout_id, data)

    @put("/accounts/{account_id:int}", summary="Record a party's connected card-processor account (operators)")
    async def account(self, request: Request[Any, Any, Any], account_id: FromPath[int], data: JSONBody[PayoutAccount]) -> dict[str, Any]:
        return await services(request).trades.set_payout_account(viewer(request), account_id, data)


class MoneyApi(Controller):
    path = "/api"
    tags = ["settlement"]

    @get("/payments", summary="Payments you made (investors)", cache=False)
    async def payments(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        return await services(request).settlement.payments(viewer(request))

    @get("/ledger", summary="Ledger lines of your own accounts", cache=False)
    async def ledger(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        return await services(request).settlement.ledger_lines(viewer(request))

    @get("/certificates/{number:str}", summary="A transaction certificate (交易凭证), public to anyone with its number", cache=False)
    async def certificate(self, request: Request[Any, Any, Any], number: FromPath[str]) -> dict[str, Any]:
        return await services(request).trades.certificate(number)

    @post("/stripe/webhook", status_code=200, summary="Stripe events, verified by signature and timestamp",
          request_max_body_size=MAX_WEBHOOK_BYTES)
    async def stripe_webhook(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        payload = await request.body()
        signature = request.headers.get("stripe-signature", "")
        return await services(request).settlement.apply_card_event(payload, signature)
