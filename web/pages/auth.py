from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from exchange.accounts.types import SELF_REGISTERING_ROLES, Registration
from exchange.errors import Conflict, NotAuthenticated, RateLimited, ValidationFailed
from web.context import begin_login, client_address, end_login, services, viewer
from web.i18n import translator
from web.pages.common import read_form, redirect_with_flash, render


def _safe_next(raw: str) -> str:
    return raw if raw.startswith("/") and not raw.startswith("//") else "/account"


class AuthPages(Controller):
    include_in_schema = False

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any], next: FromQuery[str] = "/account") -> Template:
        return await render(request, "login.html", next=_safe_next(next), error="", email="")

    @post("/login")
    async def login(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        email, next_path = form.get("email", "")[:254], _safe_next(form.get("next", ""))
        try:
            account = await services(request).accounts.authenticate(
                email, form.get("password", ""), client=client_address(request)
            )
        except (NotAuthenticated, RateLimited) as exc:
            return await render(request, "login.html", status=exc.status, next=next_path, error=exc.detail, email=email)
        await begin_login(request, account)
        return Redirect(path=next_path, status_code=303)

    @post("/logout")
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        await read_form(request)
        await end_login(request)
        return Redirect(path="/", status_code=303)

    @get("/register")
    async def register_form(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if viewer(request) is not None:  # already has an account, and is using it
            return Redirect(path="/account", status_code=303)
        return await render(request, "register.html", form={}, errors={}, roles=[r.value for r in SELF_REGISTERING_ROLES])

    @post("/register")
    async def register(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        try:
            account = await services(request).accounts.register(Registration(
                role=form.get("role", ""), email=form.get("email", ""), password=form.get("password", ""),
                display_name=form.get("display_name", ""), contact_name=form.get("contact_name", ""),
                phone=form.get("phone", ""),
            ))
        except (ValidationFailed, Conflict) as exc:
            form.pop("password", None)
            return await render(request, "register.html", status=exc.status, form=form, errors=exc.field_errors,
                                roles=[r.value for r in SELF_REGISTERING_ROLES])
        await begin_login(request, account)
        return await redirect_with_flash(request, "/account", translator(request)("register.done"))
