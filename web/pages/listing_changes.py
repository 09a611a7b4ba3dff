"""The page of a listing's announcement period: the institution extends it or requests a change
of terms, the operator suspends, resumes and decides changes; everyone sees the published record."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, ValidationFailed
from exchange.listings.change_types import (
    ChangeDecision,
    ChangeRequestInput,
    ExtensionInput,
    SuspensionInput,
)
from exchange.listings.types import CompetitiveMethod, TransferMode
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

ACTIONS = ("extend", "suspend", "resume", "request", "decide")


def _yuan(minor: int) -> str:
    whole, cents = divmod(minor, 100)
    return f"{whole}.{cents:02d}" if cents else str(whole)


def _change_input(form: dict[str, str]) -> ChangeRequestInput:
    """Every field of the form is sent; the service keeps only what differs from the listing."""
    errors: dict[str, str] = {}
    price = parse_money(errors, "listing_price", form.get("listing_price", ""), required=False)
    deposit = parse_money(errors, "deposit", form.get("deposit", ""), required=False)
    weight = parse_int(errors, "price_weight", form.get("price_weight", ""))
    raise_form_errors(errors)
    return ChangeRequestInput(
        reasons=form.get("reasons", ""), listing_price=price, deposit=deposit,
        transfer_mode=form.get("transfer_mode") or None, competitive_method=form.get("competitive_method") or None,
        price_weight_bp=None if weight is None else weight * 100,
        terms=form["terms"] if "terms" in form else None,
        bidder_conditions=form["bidder_conditions"] if "bidder_conditions" in form else None,
    )


async def _act(svc: Services, request: Request[Any, Any, Any], listing_id: int, action: str,
               form: dict[str, str]) -> None:
    who, changes = viewer(request), svc.listing_changes
    errors: dict[str, str] = {}
    if action == "extend":
        days = parse_int(errors, "working_days", form.get("working_days", ""))
        raise_form_errors(errors)
        if days is None:
            raise ValidationFailed("working_days: is required", field_errors={"working_days": "is required"})
        await changes.extend(who, listing_id, ExtensionInput(working_days=days, reason=form.get("reason", "")))
    elif action == "suspend":
        days = parse_int(errors, "days", form.get("days", ""), changes.rules.max_suspension_days)
        raise_form_errors(errors)
        await changes.suspend(who, listing_id, SuspensionInput(reason=form.get("reason", ""),
                                                               days=days or 0))
    elif action == "resume":
        await changes.resume(who, listing_id)
    elif action == "request":
        await changes.request_change(who, listing_id, _change_input(form))
    elif action == "decide":
        change = parse_int(errors, "change", form.get("change", ""))
        raise_form_errors(errors)
        if change is None:
            raise ValidationFailed("change: is required", field_errors={"change": "is required"})
        await changes.decide_change(who, listing_id, change, ChangeDecision(
            decision=form.get("decision", ""), note=form.get("note", "")))
    else:
        raise ValidationFailed("unknown action")


class ListingChangePages(Controller):
    include_in_schema = False

    @get("/listings/{listing_id:int}/changes")
    async def page(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        return await self._page(request, listing_id)

    @post("/listings/{listing_id:int}/changes/{action:str}")
    async def act(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        try:
            await _act(services(request), request, listing_id, action, form)
        except (ValidationFailed, Conflict) as exc:
            return await self._page(request, listing_id, errors=exc.field_errors or {"": exc.detail},
                                    status=exc.status, posted=form if action == "request" else None)
        t = translator(request)
        done = action if action in ACTIONS else "decide"
        return await redirect_with_flash(request, f"/listings/{listing_id}/changes", t(f"chg.done.{done}"))

    async def _page(self, request: Request[Any, Any, Any], listing_id: int, *, errors: dict[str, str] | None = None,
                    status: int = 200, posted: dict[str, str] | None = None) -> Template:
        view = await services(request).listing_changes.overview(viewer(request), listing_id)
        listing = view["listing"]
        draft = posted or {
            "listing_price": _yuan(listing["listing_price"]), "deposit": _yuan(listing["deposit"]),
            "transfer_mode": listing["transfer_mode"], "competitive_method": listing["competitive_method"],
            "price_weight": str(listing["price_weight_bp"] // 100), "terms": listing["terms"],
            "bidder_conditions": listing["bidder_conditions"], "reasons": "",
        }
        return await render(request, "listing_changes.html", status=status, view=view, listing=listing,
                            errors=errors or {}, draft=draft, at=format_iso, yuan=_yuan,
                            modes=[m.value for m in TransferMode], methods=[m.value for m in CompetitiveMethod])
