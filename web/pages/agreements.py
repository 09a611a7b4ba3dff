"""Agreement-pricing pages: the public list of notices, one notice with its objection window and
answered objections, the objection form (logged-in users but the parties), the operator's
answer forms, the institution's withdraw form and its form to publish a notice."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from exchange.accounts.types import Role
from exchange.agreements.types import AgreementInput, ObjectionAnswer, ObjectionInput, WithdrawInput
from exchange.errors import Conflict, ExchangeError, Forbidden, ValidationFailed
from exchange.services import Services
from web.context import services, viewer
from web.i18n import format_iso, translator
from web.pages.common import (
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)


def _input(form: dict[str, str]) -> AgreementInput:
    errors: dict[str, str] = {}
    achievement = parse_int(errors, "achievement_id", form.get("achievement_id", ""))
    if achievement is None and "achievement_id" not in errors:
        errors["achievement_id"] = "choose one of your achievements"
    values = AgreementInput(
        achievement_id=achievement or 0, buyer_email=form.get("buyer_email", ""),
        price=parse_money(errors, "price", form.get("price", "")) or 0,
        transfer_mode=form.get("transfer_mode", "assignment"), summary=form.get("summary", ""),
        related_party=form.get("related_party") == "yes", related_party_note=form.get("related_party_note", ""),
        objection_procedure=form.get("objection_procedure", ""),
        notice_days=parse_int(errors, "notice_days", form.get("notice_days", "")),
    )
    raise_form_errors(errors)
    return values


async def _act(svc: Services, request: Request[Any, Any, Any], agreement_id: int, action: str,
               form: dict[str, str]) -> None:
    who, agreements = viewer(request), svc.agreements
    if action == "object":
        await agreements.object(who, agreement_id, ObjectionInput(grounds=form.get("grounds", "")))
    elif action == "answer":
        errors: dict[str, str] = {}
        objection = parse_int(errors, "objection", form.get("objection", "")) or 0
        raise_form_errors(errors)
        await agreements.answer(who, agreement_id, objection, ObjectionAnswer(
            outcome=form.get("outcome", ""), answer=form.get("answer", "")))
    elif action == "withdraw":
        await agreements.withdraw(who, agreement_id, WithdrawInput(reason=form.get("reason", "")))
    else:
        raise ValidationFailed("unknown action")


class AgreementPages(Controller):
    include_in_schema = False

    @get("/agreements", cache=False)
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        svc, who = services(request), viewer(request)
        mine = await svc.agreements.agreements(who, mine=True) if who is not None and who.role != Role.OPERATOR else []
        return await render(request, "agreements.html", agreements=await svc.agreements.agreements(who),
                            mine=mine, at=format_iso)

    @get("/agreements/new", cache=False)
    async def new(self, request: Request[Any, Any, Any], achievement: FromQuery[int | None] = None) -> Template | Redirect:
        who = viewer(request)
        if who is None:
            return Redirect(path="/login?next=/agreements/new", status_code=303)
        form = {} if achievement is None else {"achievement_id": str(achievement)}
        return await self._form(request, form, {})

    @post("/agreements/new")
    async def create(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        try:
            notice = await services(request).agreements.create(viewer(request), _input(form))
        except (ValidationFailed, Conflict) as exc:
            return await self._form(request, form, exc.field_errors or {"": exc.detail}, status=exc.status)
        t = translator(request)
        return await redirect_with_flash(request, f"/agreements/{notice['id']}",
                                         f"{notice['reference_no']}: {t('agreement.published')}")

    async def _form(self, request: Request[Any, Any, Any], form: dict[str, str], errors: dict[str, str],
                    status: int = 200) -> Template:
        who = viewer(request)
        if who is None or who.role != Role.INSTITUTION:
            raise Forbidden("only institutions publish agreement-pricing notices")
        svc = services(request)
        return await render(request, "agreement_form.html", status=status, form=form, errors=errors,
                            achievements=await svc.achievements.list_own(who),
                            default_days=svc.agreements.rules.notice_days)

    @get("/agreements/{agreement_id:int}", cache=False)
    async def detail(self, request: Request[Any, Any, Any], agreement_id: FromPath[int]) -> Template:
        return await self._detail(request, agreement_id)

    @post("/agreements/{agreement_id:int}/{action:str}")
    async def act(self, request: Request[Any, Any, Any], agreement_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        try:
            await _act(services(request), request, agreement_id, action, form)
        except (ValidationFailed, Conflict, Forbidden) as exc:
            return await self._detail(request, agreement_id, errors=exc.field_errors or {"": exc.detail},
                                      status=exc.status)
        except ExchangeError:
            raise
        t = translator(request)
        return await redirect_with_flash(request, f"/agreements/{agreement_id}", t(f"agreement.done.{action}"))

    async def _detail(self, request: Request[Any, Any, Any], agreement_id: int, *,
                      errors: dict[str, str] | None = None, status: int = 200) -> Template:
        notice = await services(request).agreements.agreement(viewer(request), agreement_id)
        return await render(request, "agreement.html", status=status, agreement=notice, errors=errors or {}, at=format_iso)
