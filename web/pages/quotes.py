"""The quote round page of a listing (/listings/{id}/quote): the buyers' sealed quote and receipt,
the operator's opening of the round and the panel's scores, the public opening and result."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, Forbidden, ValidationFailed
from exchange.quotes.types import QuoteInput, RoundInput, ScoresInput
from exchange.services import Services
from web.context import services, viewer
from web.i18n import SHANGHAI, format_iso, translator
from web.pages.common import (
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)


def _local(iso: str | None) -> str:
    """An instant as a datetime-local value in Beijing time."""
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M") if iso else ""


async def _act(svc: Services, request: Request[Any, Any, Any], listing_id: int, action: str,
               form: dict[str, str]) -> dict[str, Any] | None:
    """Runs one form's step; returns the receipt when a quote was submitted."""
    who, quotes = viewer(request), svc.quotes
    errors: dict[str, str] = {}
    if action == "open":
        try:
            deadline = datetime.fromisoformat(form.get("deadline", "").strip()).replace(tzinfo=SHANGHAI)
        except ValueError:
            raise ValidationFailed("check the deadline", field_errors={
                "deadline": "must be a date and time such as 2026-04-01T17:00"}) from None
        await quotes.open_round(who, listing_id, RoundInput(deadline=deadline))
    elif action == "submit":
        price = parse_money(errors, "price", form.get("price", "")) or 0
        raise_form_errors(errors)
        return await quotes.submit(who, listing_id, QuoteInput(price=price, plan=form.get("plan", "")))
    elif action == "scores":
        scores = {k.removeprefix("score_"): parse_int(errors, k, v) or 0
                  for k, v in form.items() if k.startswith("score_")}
        raise_form_errors(errors)
        await quotes.score(who, listing_id, ScoresInput(scores=scores))
    else:
        raise ValidationFailed("unknown action")
    return None


class QuotePages(Controller):
    include_in_schema = False

    @get("/listings/{listing_id:int}/quote")
    async def page(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        return await self._page(request, listing_id)

    @post("/listings/{listing_id:int}/quote/{action:str}")
    async def act(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        try:
            receipt = await _act(services(request), request, listing_id, action, form)
        except (ValidationFailed, Conflict, Forbidden) as exc:
            return await self._page(request, listing_id, errors=exc.field_errors or {"": exc.detail},
                                    status=exc.status, form=form)
        if receipt is not None:
            return await self._page(request, listing_id, receipt=receipt, status=201)
        t = translator(request)
        return await redirect_with_flash(request, f"/listings/{listing_id}/quote", t(f"quote.done.{action}"))

    async def _page(self, request: Request[Any, Any, Any], listing_id: int, *, errors: dict[str, str] | None = None,
                    receipt: dict[str, Any] | None = None, status: int = 200,
                    form: dict[str, str] | None = None) -> Template:
        view = await services(request).quotes.round(viewer(request), listing_id)
        return await render(request, "quote.html", status=status, q=view, listing=view["listing"],
                            round=view["round"], errors=errors or {}, receipt=receipt or view["my_receipt"],
                            fresh_receipt=receipt is not None, form=form or {}, at=format_iso,
                            min_deadline=_local(view["min_deadline"]))
