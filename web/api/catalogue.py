from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery, Parameter

from exchange.catalogue.service import CatalogueQuery
from exchange.listings.types import Listing
from web.context import services


class CatalogueResult(msgspec.Struct, frozen=True):
    items: list[Listing]
    total: int
    page: int
    page_size: int


class CatalogueApi(Controller):
    path = "/api/catalogue"
    tags = ["catalogue"]

    @get("/", summary="Search announced listings (Chinese or English substrings) with filters")
    async def search(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, Parameter(max_length=100)] = "",
        field: FromQuery[str] = "",
        kind: FromQuery[str] = "",
        funding_source: FromQuery[str] = "",
        status: FromQuery[str] = "",
        min_price: FromQuery[int | None] = None,
        max_price: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
        page_size: FromQuery[int] = 20,
    ) -> CatalogueResult:
        found = await services(request).catalogue.search(CatalogueQuery(
            q=q, field=field, kind=kind, funding_source=funding_source, status=status,
            min_price=min_price, max_price=max_price, page=page, page_size=page_size,
        ))
        return CatalogueResult(items=found.items, total=found.total, page=found.page, page_size=found.page_size)
