"""The operator's settlement desk: bank statement lines matched to deposits and balances, the
queues of deposits and trades waiting on someone, forfeitures to decide, payouts to send."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.accounts.service import require_role
from exchange.accounts.types import Role
from exchange.errors import ExchangeError, ValidationFailed
from exchange.settlement.types import (
    BankTransfer,
    ForfeitDecision,
    PayoutAccount,
    PayoutSent,
    Ruling,
    TradeStatus,
)
from web.context import services, viewer
from web.i18n import format_money, translator
from web.pages.common import parse_money, read_form, redirect_with_flash, render
from web.pages.money import money_context

DESK = "/operator/settlement"
# the queues of the desk, in the order a trade passes through them
TRADE_QUEUES = (TradeStatus.AWAITING_CONTRACT, TradeStatus.AWAITING_BALANCE, TradeStatus.AWAITING_DELIVERY,
                TradeStatus.DELIVERED, TradeStatus.FORFEITED)


class SettlementDeskPages(Controller):
    include_in_schema = False

    @get(DESK, cache=False)
    async def desk(self, request: Request[Any, Any, Any]) -> Template:
        return await self._desk(request, errors={}, form={})

    @post(f"{DESK}/bank-transfers")
    async def match_bank_line(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        t = translator(request)

        async def match() -> str:
            errors: dict[str, str] = {}
            paid = parse_money(errors, "amount", form.get("amount", ""))
            if errors or paid is None:
                raise ValidationFailed("; ".join(f"{k}: {v}" for k, v in errors.items()), field_errors=errors)
            matched = await services(request).settlement.confirm_bank_transfer(viewer(request), BankTransfer(
                reference_code=form.get("reference_code", ""), amount=paid,
                statement_ref=form.get("statement_ref", "")))
            if matched["trade"] is not None:
                trade = matched["trade"]
                return t("desk.balance_matched", reference=trade["reference_code"],
                         amount=format_money(paid, trade["currency"]))
            deposit = matched["deposit"]
            return t("desk.deposit_matched", reference=deposit["reference_code"],
                     amount=format_money(paid, deposit["currency"]), investor=deposit["investor_name"])

        return await self._step(request, form, match)

    @post(f"{DESK}/trades/{{trade_id:int}}/next-step")
    async def next_step(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        t = translator(request)

        async def decide() -> str:
            decision = ForfeitDecision(next_step=form.get("next_step", ""))
            trade = await services(request).trades.decide_after_forfeit(viewer(request), trade_id, decision)
            return t("desk.decided", reference=trade["reference_code"], step=t("next_step." + trade["next_step"]))

        return await self._step(request, form, decide)

    @post(f"{DESK}/trades/{{trade_id:int}}/ruling")
    async def ruling(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        t = translator(request)

        async def rule() -> str:
            decided = Ruling(outcome=form.get("outcome", ""), reasons=form.get("reasons", ""))
            trade = await services(request).trades.rule_on_objection(viewer(request), trade_id, decided)
            return t("desk.ruled", reference=trade["reference_code"], outcome=t("ruling." + trade["objection_outcome"]))

        return await self._step(request, form, rule)

    @post(f"{DESK}/payouts/{{payout_id:int}}/sent")
    async def payout_sent(self, request: Request[Any, Any, Any], payout_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        t = translator(request)

        async def mark() -> str:
            sent = PayoutSent(bank_ref=form.get("bank_ref", ""))
            payout = await services(request).trades.mark_payout_sent(viewer(request), payout_id, sent)
            return t("desk.payout_sent", payee=payout["payee_name"],
                     amount=format_money(payout["amount"], payout["currency"]), ref=payout["external_ref"])

        return await self._step(request, form, mark)

    @post(f"{DESK}/payout-accounts")
    async def payout_account(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        """Where a seller is paid by card-processor transfer (Stripe Connect) once cards are enabled."""
        form = await read_form(request)
        t = translator(request)

        async def record() -> str:
            svc = services(request)
            payee = await svc.accounts.by_email(form.get("email", ""))
            saved = await svc.trades.set_payout_account(viewer(request), payee.id,
                                                        PayoutAccount(stripe_account=form.get("stripe_account", "")))
            return t("desk.payout_account_saved", payee=payee.display_name, account=saved["stripe_account"])

        return await self._step(request, form, record)

    async def _step(
        self, request: Request[Any, Any, Any], form: dict[str, str], step: Callable[[], Awaitable[str]]
    ) -> Template | Redirect:
        """One operator action; a refusal shows the desk again with the reason, and nothing changed."""
        require_role(viewer(request), Role.OPERATOR)
        try:
            done = await step()
        except ExchangeError as exc:
            if exc.status >= 500 or exc.status in (401, 403):
                raise
            return await self._desk(request, errors=exc.field_errors or {"": exc.detail}, form=form,
                                    status=exc.status)
        return await redirect_with_flash(request, DESK, done)

    async def _desk(
        self, request: Request[Any, Any, Any], *, errors: dict[str, str], form: dict[str, str], status: int = 200
    ) -> Template:
        operator = require_role(viewer(request), Role.OPERATOR)
        svc = services(request)
        queues = {s.value: await svc.trades.trades(operator, status=s.value) for s in TRADE_QUEUES}
        queues[TradeStatus.FORFEITED] = [t for t in queues[TradeStatus.FORFEITED] if t["next_step"] is None]
        to_send = await svc.settlement.payouts(operator, status="to_send")
        payouts = [p for p in to_send if p["provider"] == "offline"]
        # money that sits at the card processor leaves by Connect transfer once the payee's account is known
        card_waiting = [p for p in to_send if p["provider"] == "stripe" and p["purpose"] != "refund"]
        return await render(
            request, "settlement_desk.html", status=status, **money_context(request), errors=errors, form=form,
            due=await svc.settlement.deposits(operator, status="due"), queues=queues, payouts=payouts,
            cards_enabled=svc.settlement.cards is not None, card_waiting=card_waiting,
        )
