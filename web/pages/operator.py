"""Operators review submitted listings."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, ValidationFailed
from exchange.listings.types import Review
from web.context import services, viewer
from web.i18n import translator
from web.pages.common import read_form, redirect_with_flash, render


class OperatorPages(Controller):
    include_in_schema = False

    @get("/review")
    async def queue(self, request: Request[Any, Any, Any]) -> Template:
        queue = await services(request).listings.review_queue(viewer(request))
        return await render(request, "review_queue.html", queue=queue)

    @get("/review/{listing_id:int}")
    async def item(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        await services(request).listings.review_queue(viewer(request))
        return await self._item(request, listing_id, errors={}, form={})

    @post("/review/{listing_id:int}")
    async def decide(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template | Redirect:
        form = await read_form(request)
        review = Review(decision=form.get("decision", ""), reasons=form.get("reasons", ""),
                        approve_below_floor=form.get("approve_below_floor") == "yes")
        if review.decision == "approve" and form.get("confirm_publish") != "yes":
            # approving publishes the listing announcement, a record that is never withdrawn
            return await self._item(request, listing_id, form=form, status=422,
                                    errors={"confirm_publish": translator(request)("review.confirm_needed")})
        try:
            listing = await services(request).listings.review(viewer(request), listing_id, review)
        except (ValidationFailed, Conflict) as exc:
            return await self._item(request, listing_id, errors=exc.field_errors or {"": exc.detail},
                                    form=form, status=exc.status)
        t = translator(request)
        return await redirect_with_flash(
            request, "/review", f"{listing.reference_no}: {t('review.decision.' + review.decision)}"
        )

    async def _item(
        self, request: Request[Any, Any, Any], listing_id: FromPath[int], *, errors: dict[str, str],
        form: dict[str, str], status: int = 200,
    ) -> Template:
        svc = services(request)
        listing = await svc.listings.get_for(viewer(request), listing_id)
        reviews = await svc.listings.reviews(viewer(request), listing_id)
        preview = svc.listings.announcement_end(svc.clock.now(), listing.announcement_working_days)
        return await render(request, "review_item.html", status=status, listing=listing, reviews=reviews,
                            errors=errors, form=form, preview_end=preview)
