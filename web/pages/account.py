"""Every account's own page: profile, role-specific work, API tokens."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.accounts.service import require_role
from exchange.accounts.types import Role
from exchange.errors import NotAuthenticated, ValidationFailed
from web.context import services, viewer
from web.pages.common import read_form, redirect_with_flash, render
from web.pages.money import local_time

OPEN_PURCHASE = ("awaiting_contract", "awaiting_balance", "awaiting_delivery", "delivered")
"""A buyer's trades that still ask something of them, or of the seller for them."""


class AccountPages(Controller):
    include_in_schema = False

    @get("/account")
    async def account(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        account = viewer(request)
        if account is None:
            return Redirect(path="/login?next=/account", status_code=303)
        svc = services(request)
        context: dict[str, Any] = {"account": account}
        if account.role == Role.INSTITUTION:
            context["achievements"] = await svc.achievements.list_own(account)
            context["listings"] = await svc.listings.of_seller(account)
        elif account.role == Role.OPERATOR:
            context["queue"] = await svc.listings.review_queue(account)
        elif account.role == Role.INVESTOR:
            context["auctions"] = await svc.auctions.qualified_for(account)
            context["deposits_due"] = [d for d in await svc.settlement.deposits(account) if d["status"] == "due"]
            context["purchases"] = [t for t in await svc.trades.trades(account)
                                    if t["buyer_id"] == account.id and t["status"] in OPEN_PURCHASE]
            context["at"] = local_time
        return await render(request, "account.html", **context)

    @get("/account/tokens")
    async def tokens(self, request: Request[Any, Any, Any]) -> Template:
        return await self._tokens(request, created=None, errors={})

    @post("/account/tokens")
    async def create_token(self, request: Request[Any, Any, Any]) -> Template:
        form = await read_form(request)
        account = require_role(viewer(request), *Role)
        try:
            issued = await services(request).accounts.issue_token(account, form.get("name", ""))
        except ValidationFailed as exc:
            return await self._tokens(request, created=None, errors=exc.field_errors, status=422)
        return await self._tokens(request, created=issued.token, errors={}, status=201)

    @post("/account/tokens/{token_id:int}/revoke")
    async def revoke_token(self, request: Request[Any, Any, Any], token_id: FromPath[int]) -> Redirect:
        await read_form(request)
        account = require_role(viewer(request), *Role)
        await services(request).accounts.revoke_token(account, token_id)
        return await redirect_with_flash(request, "/account/tokens", "✓")

    async def _tokens(
        self, request: Request[Any, Any, Any], *, created: str | None, errors: dict[str, str], status: int = 200
    ) -> Template:
        account = viewer(request)
        if account is None:
            raise NotAuthenticated("log in first")
        tokens = await services(request).accounts.tokens(account)
        return await render(request, "tokens.html", status=status, tokens=tokens, created=created, errors=errors)
