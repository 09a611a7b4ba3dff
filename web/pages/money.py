"""The parties' money pages: an investor's deposits and payments, an institution's sales and
payouts, each deposit and trade with its ledger lines, and the buyer's and seller's steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.accounts.service import require_role
from exchange.accounts.types import Role
from exchange.config import SettlementAccount
from exchange.errors import ExchangeError, Forbidden, NotFound
from exchange.settlement.types import CardReturn, Delivery, Objection
from web.context import services, viewer
from web.i18n import format_time, translator
from web.pages.common import read_form, redirect_with_flash, render


def local_time(iso_time: str | None) -> str:
    """A view's ISO time in Beijing time, as the other pages show times."""
    return format_time(datetime.fromisoformat(iso_time)) if iso_time else ""


def bank_account(request: Request[Any, Any, Any]) -> SettlementAccount:
    found: SettlementAccount = request.app.state.settlement_account
    return found


def money_context(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What every money page's template needs beyond the common context."""
    return {"at": local_time, "bank": bank_account(request), "cards": services(request).settlement.cards is not None}


def back_to(form: dict[str, str], default: str) -> str:
    """The page a form came from (a local path only), so an action returns where it was taken."""
    target = form.get("back", "")
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else default


async def act(request: Request[Any, Any, Any], default: str, step: Any, done: str) -> Template | Redirect:
    """Runs one party's step; a refusal (already done, too late, a missing note) shows the page it
    came from again with the reason and the refusal's status."""
    form = await read_form(request)
    back = back_to(form, default)
    try:
        await step(form)
    except ExchangeError as exc:
        if exc.status >= 500 or exc.status in (401, 403, 404):
            raise
        return await MoneyPages.page(request, back, errors=exc.field_errors or {"": exc.detail}, form=form,
                                     status=exc.status)
    return await redirect_with_flash(request, back, done)


def card_return(request: Request[Any, Any, Any], path: str) -> CardReturn:
    base = str(request.base_url).rstrip("/")
    return CardReturn(success_url=f"{base}{path}?card=paid", cancel_url=f"{base}{path}?card=cancelled")


class MoneyPages(Controller):
    include_in_schema = False

    @get("/account/money", cache=False)
    async def money(self, request: Request[Any, Any, Any]) -> Template:
        return await self.page(request, "/account/money")

    @get("/account/sales", cache=False)
    async def sales(self, request: Request[Any, Any, Any]) -> Template:
        return await self.page(request, "/account/sales")

    @get("/deposits/{deposit_id:int}", cache=False)
    async def deposit(self, request: Request[Any, Any, Any], deposit_id: FromPath[int]) -> Template:
        try:
            found = await services(request).settlement.deposit(viewer(request), deposit_id)
        except Forbidden as exc:  # an institution's guess at a deposit number learns nothing
            raise NotFound("no such deposit") from exc
        return await render(request, "deposit.html", **money_context(request), deposit=found)

    @get("/trades/{trade_id:int}", cache=False)
    async def trade(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template:
        return await self.page(request, f"/trades/{trade_id}")

    @staticmethod
    async def page(
        request: Request[Any, Any, Any], path: str, *, errors: dict[str, str] | None = None,
        form: dict[str, str] | None = None, status: int = 200,
    ) -> Template:
        """The money page at `path` (an investor's, an institution's, or a trade's), with a form's errors."""
        svc, who = services(request), viewer(request)
        context = money_context(request) | {"errors": errors or {}, "form": form or {}}
        if path.startswith("/trades/") and path[len("/trades/"):].isdigit():
            found = await svc.trades.trade(who, int(path[len("/trades/"):]))
            return await render(request, "trade.html", status=status, **context, trade=found)
        if path == "/account/sales":
            seller = require_role(who, Role.INSTITUTION)
            trades = [t for t in await svc.trades.trades(seller) if t["seller_id"] == seller.id]
            return await render(request, "sales.html", status=status, **context, trades=trades,
                                payouts=await svc.settlement.payouts(seller))
        investor = require_role(who, Role.INVESTOR)
        trades = [t for t in await svc.trades.trades(investor) if t["buyer_id"] == investor.id]
        return await render(
            request, "money.html", status=status, **context,
            deposits=await svc.settlement.deposits(investor), trades=trades,
            payments=await svc.settlement.payments(investor), payouts=await svc.settlement.payouts(investor),
            card=request.query_params.get("card", ""),
        )

    # the buyer ----------------------------------------------------------------------------

    @post("/trades/{trade_id:int}/contract")
    async def confirm_contract(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        trades, who = services(request).trades, viewer(request)
        return await act(request, "/account/money", lambda form: trades.confirm_contract(who, trade_id),
                         translator(request)("trade.contract_confirmed"))

    @post("/trades/{trade_id:int}/accept")
    async def accept_delivery(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        trades, who = services(request).trades, viewer(request)
        return await act(request, "/account/money", lambda form: trades.accept_delivery(who, trade_id),
                         translator(request)("trade.accepted"))

    @post("/trades/{trade_id:int}/objection")
    async def object_to_delivery(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        trades, who = services(request).trades, viewer(request)
        return await act(request, f"/trades/{trade_id}",
                         lambda form: trades.object_to_delivery(who, trade_id, Objection(reason=form.get("reason", ""))),
                         translator(request)("trade.objection_sent"))

    @post("/trades/{trade_id:int}/card")
    async def pay_balance_by_card(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Redirect:
        await read_form(request)
        checkout = await services(request).trades.start_card_balance(
            viewer(request), trade_id, card_return(request, "/account/money"))
        return Redirect(path=checkout["checkout_url"], status_code=303)

    @post("/deposits/{deposit_id:int}/card")
    async def pay_deposit_by_card(self, request: Request[Any, Any, Any], deposit_id: FromPath[int]) -> Redirect:
        await read_form(request)
        checkout = await services(request).settlement.start_card_deposit(
            viewer(request), deposit_id, card_return(request, "/account/money"))
        return Redirect(path=checkout["checkout_url"], status_code=303)

    # the seller -----------------------------------------------------------------------------

    @post("/trades/{trade_id:int}/delivery")
    async def record_delivery(self, request: Request[Any, Any, Any], trade_id: FromPath[int]) -> Template | Redirect:
        trades, who = services(request).trades, viewer(request)
        return await act(request, "/account/sales",
                         lambda form: trades.record_delivery(who, trade_id, Delivery(note=form.get("note", ""))),
                         translator(request)("trade.delivery_recorded"))

