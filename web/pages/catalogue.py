from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Template

from exchange.accounts.types import Role
from exchange.achievements.types import FIELDS, FundingSource, Kind
from exchange.catalogue.service import PHASES, CatalogueQuery
from exchange.errors import ValidationFailed
from exchange.listings.types import PUBLIC_STATUSES, CompetitiveMethod, ListingStatus
from web.context import services, viewer
from web.i18n import format_iso
from web.pages.common import parse_int, parse_money, render


class CataloguePages(Controller):
    include_in_schema = False

    @get("/")
    async def catalogue(self, request: Request[Any, Any, Any]) -> Template:
        params = {k: v[:200] for k, v in request.query_params.items()}
        errors: dict[str, str] = {}
        min_price = parse_money(errors, "min_price", params.get("min_price", ""), required=False)
        max_price = parse_money(errors, "max_price", params.get("max_price", ""), required=False)
        page = parse_int(errors, "page", params.get("page", ""), default=1) or 1
        query = CatalogueQuery(
            q=params.get("q", ""), field=params.get("field", ""), kind=params.get("kind", ""),
            funding_source=params.get("funding_source", ""), status=params.get("status", ""),
            min_price=min_price, max_price=max_price, page=page,
        )
        result = None
        if not errors:
            try:
                result = await services(request).catalogue.search(query)
            except ValidationFailed as exc:
                errors = exc.field_errors
        def page_url(number: int) -> str:
            return "/?" + urlencode({**{k: v for k, v in params.items() if v and k != "page"}, "page": number})

        return await render(
            request, "catalogue.html", page_url=page_url, status=422 if errors else 200, result=result, query=query,
            params=params, errors=errors, fields=FIELDS, kinds=[k.value for k in Kind],
            fundings=[f.value for f in FundingSource], phases=PHASES,
        )

    @get("/listings/{listing_id:int}")
    async def listing(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Template:
        return await listing_page(request, listing_id)


async def listing_page(request: Request[Any, Any, Any], listing_id: int, *, errors: dict[str, str] | None = None,
                       status: int = 200, form: dict[str, str] | None = None) -> Template:
    """The listing with its procedure as the viewer may see it (an investor's intent forms);
    `errors` from one of those forms."""
    listing = await services(request).listings.get_for(viewer(request), listing_id)
    reviews = await services(request).listings.reviews(viewer(request), listing_id)
    auctions = await services(request).auctions.list_auctions(listing_id=listing_id)
    account = viewer(request)
    can_schedule = (
        account is not None and account.role == Role.OPERATOR
        and listing.status in (ListingStatus.ANNOUNCED, ListingStatus.COMPETITION)
        and listing.competitive_method == CompetitiveMethod.ENGLISH_AUCTION
        and all(a["status"] == "closed" and not (a["result"] or {}).get("sold") for a in auctions)
    )
    procedure = None
    if listing.status.value in PUBLIC_STATUSES:
        procedure = await services(request).procedure.procedure(account, listing_id)
        if listing.status == ListingStatus.ANNOUNCED and procedure["counts"]["intents"]:
            can_schedule = False  # sold through its procedure once investors registered intent
    return await render(request, "listing.html", status=status, listing=listing, reviews=reviews, auctions=auctions,
                        can_schedule=can_schedule, proc=procedure, proc_errors=errors or {}, proc_form=form or {},
                        at=format_iso)


