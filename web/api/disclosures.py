"""The public disclosure feed (a cursor over the hash chain) and OCDS releases per procedure."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery

from exchange.disclosure import DisclosureService
from web.context import services


def disclosures(request: Request[Any, Any, Any]) -> DisclosureService:
    svc = services(request)
    return DisclosureService(svc.pool, svc.clock)


class DisclosuresApi(Controller):
    path = "/api/disclosures"
    tags = ["disclosure"]

    @get("/", summary="Disclosure records in chain order after a cursor; `next` is the cursor of the next page",
         cache=False)
    async def feed(
        self, request: Request[Any, Any, Any], after: FromQuery[int] = 0, limit: FromQuery[int] = 100,
        kind: FromQuery[str | None] = None, procedure: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        return await disclosures(request).feed(after=after, limit=limit, kind=kind, procedure=procedure)

    @get("/{seq:int}", summary="One disclosure record with its hash, and the records that correct it", cache=False)
    async def record(self, request: Request[Any, Any, Any], seq: FromPath[int]) -> dict[str, Any]:
        service = disclosures(request)
        found, corrections, _ = await service.record(seq)
        return found.view(service.now()) | {"corrected_by": [c.seq for c in corrections]}

    @get("/ocds/{procedure:str}", summary="The procedure's disclosures as an OCDS 1.1 release package", cache=False)
    async def ocds(self, request: Request[Any, Any, Any], procedure: FromPath[str]) -> dict[str, Any]:
        return await disclosures(request).releases(procedure)
