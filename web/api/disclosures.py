"""The public disclosure feed (a cursor over the hash chain) and OCDS releases per procedure."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from exchange.disclosure import DisclosureService
from web.context import services, viewer


class CorrectionInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The record's whole corrected content, and why it is corrected (published with it)."""

    body: dict[str, Any]
    reason: str


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
        return await disclosures(request).releases(procedure, base_url=str(request.base_url),
                                                   publication=request.app.state.ocds)

    @post("/{seq:int}/corrections", status_code=HTTP_201_CREATED,
          summary="Publish a correction of a record: a new record naming it (operators)")
    async def correct(
        self, request: Request[Any, Any, Any], seq: FromPath[int], data: JSONBody[CorrectionInput],
    ) -> dict[str, Any]:
        service = disclosures(request)
        record = await service.issue_correction(viewer(request), seq, data.body, data.reason)
        return record.view(service.now())
