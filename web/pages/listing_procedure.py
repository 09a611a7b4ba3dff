"""The listing procedure pages: an investor's intent (from the listing page), and the procedure
page of the operator and the institution: intents with statements and comments, the
qualification against the published conditions, deposits, the outcome, the one buyer's
agreement quote, the auction of a competition and the relisting of an unsold listing."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, ValidationFailed
from exchange.listings.procedure_types import (
    AgreementQuote,
    IntentComment,
    IntentDecision,
    IntentInput,
)
from web.context import services, viewer
from web.i18n import format_iso, translator
from web.pages.catalogue import listing_page
from web.pages.common import (
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)
from web.pages.institution import listing_form_values, listing_from_form

ACTIONS = ("intent", "withdraw", "comment", "decide", "agreement", "relist")


def _numbers(errors: dict[str, str], raw: list[str]) -> list[int]:
    found = []
    for value in raw:
        number = parse_int(errors, "unmet_conditions", value)
        if number is not None:
            found.append(number)
    return found


async def _act(request: Request[Any, Any, Any], listing_id: int, action: str, form: dict[str, str]) -> int | None:
    """Runs one form's step; returns the id of a new listing (a relisting) or of a trade."""
    svc, who = services(request).procedure, viewer(request)
    errors: dict[str, str] = {}
    if action == "intent":
        await svc.register_intent(who, listing_id, IntentInput(statement=form.get("statement", "")))
    elif action == "withdraw":
        await svc.withdraw_intent(who, listing_id)
    elif action in ("comment", "decide"):
        intent_id = parse_int(errors, "intent", form.get("intent", "")) or 0
        if action == "comment":
            raise_form_errors(errors)
            await svc.comment(who, listing_id, intent_id, IntentComment(comment=form.get("comment", "")))
        else:
            unmet = _numbers(errors, [k.removeprefix("condition_") for k in form if k.startswith("condition_")])
            raise_form_errors(errors)
            await svc.decide(who, listing_id, intent_id, IntentDecision(
                decision=form.get("decision", ""), reasons=form.get("reasons", ""), unmet_conditions=unmet))
    elif action == "agreement":
        quote = parse_money(errors, "quote", form.get("quote", ""))
        raise_form_errors(errors)
        answer = await svc.confirm_agreement(who, listing_id, AgreementQuote(quote=quote or 0))
        trade_id: int | None = answer["trade_id"]
        return trade_id
    elif action == "relist":
        relisting = await svc.relist(who, listing_id, listing_from_form(form))
        return relisting.id
    else:
        raise ValidationFailed("unknown action")
    return None


class ListingProcedurePages(Controller):
    include_in_schema = False

    @get("/listings/{listing_id:int}/procedure", cache=False)
    async def page(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        return await self._page(request, listing_id)

    @post("/listings/{listing_id:int}/procedure/{action:str}")
    async def act(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        t = translator(request)
        try:
            created = await _act(request, listing_id, action, form)
        except (ValidationFailed, Conflict) as exc:
            errors = exc.field_errors or {"": exc.detail}
            if form.get("back") == "listing":  # the listing page shows the investor's forms
                return await listing_page(request, listing_id, errors=errors, status=exc.status, form=form)
            return await self._page(request, listing_id, errors=errors, form=form, status=exc.status)
        if action == "relist" and created is not None:
            return await redirect_with_flash(request, f"/listings/{created}", t("proc.done.relist"))
        if action == "agreement" and created is not None:
            return await redirect_with_flash(request, f"/trades/{created}", t("proc.done.agreement"))
        back = f"/listings/{listing_id}" if form.get("back") == "listing" else f"/listings/{listing_id}/procedure"
        return await redirect_with_flash(request, back, t(f"proc.done.{action}"))

    async def _page(self, request: Request[Any, Any, Any], listing_id: int, *, errors: dict[str, str] | None = None,
                    form: dict[str, str] | None = None, status: int = 200) -> Template:
        svc = services(request)
        listing = await svc.listings.get_for(viewer(request), listing_id)
        procedure = await svc.procedure.procedure(viewer(request), listing_id)
        relist_form = form if form and "listing_price" in form else listing_form_values(listing)
        return await render(request, "listing_procedure.html", status=status, listing=listing, proc=procedure,
                            errors=errors or {}, form=form or {}, relist_form=relist_form, at=format_iso,
                            modes=[m.value for m in type(listing.transfer_mode)],
                            methods=[m.value for m in type(listing.competitive_method)])
