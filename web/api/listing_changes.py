"""A listing's announcement period over HTTP: extension (the institution), suspension and
resumption (operators), change requests (the institution) and their decision (operators)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.listings.change_types import (
    ChangeDecision,
    ChangeRequestInput,
    ExtensionInput,
    SuspensionInput,
)
from web.context import services, viewer


class ListingChangesApi(Controller):
    path = "/api/listings"
    tags = ["listings"]

    @get("/{listing_id:int}/changes", summary="The announcement period, change requests and the published "
                                              "extensions, suspensions and changes", cache=False)
    async def overview(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).listing_changes.overview(viewer(request), listing_id)

    @post("/{listing_id:int}/extensions", status_code=HTTP_200_OK,
          summary="Extend the announcement period by at least 5 working days, or announce an unsold listing "
                  "again (its institution)")
    async def extend(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                     data: JSONBody[ExtensionInput]) -> dict[str, Any]:
        return await services(request).listing_changes.extend(viewer(request), listing_id, data)

    @post("/{listing_id:int}/suspension", status_code=HTTP_200_OK,
          summary="Suspend the announcement: the clock pauses for at most a month (operators)")
    async def suspend(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                      data: JSONBody[SuspensionInput]) -> dict[str, Any]:
        return await services(request).listing_changes.suspend(viewer(request), listing_id, data)

    @post("/{listing_id:int}/resumption", status_code=HTTP_200_OK,
          summary="Resume a suspended listing: its end moves later by the time suspended (operators)")
    async def resume(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).listing_changes.resume(viewer(request), listing_id)

    @post("/{listing_id:int}/change-requests", status_code=HTTP_201_CREATED,
          summary="Request a change of the published terms, with reasons (its institution)")
    async def request_change(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                             data: JSONBody[ChangeRequestInput]) -> dict[str, Any]:
        return await services(request).listing_changes.request_change(viewer(request), listing_id, data)

    @post("/{listing_id:int}/change-requests/{change_id:int}/decision", status_code=HTTP_200_OK,
          summary="Approve (applies it and restarts the period) or reject a change request (operators)")
    async def decide(self, request: Request[Any, Any, Any], listing_id: FromPath[int], change_id: FromPath[int],
                     data: JSONBody[ChangeDecision]) -> dict[str, Any]:
        return await services(request).listing_changes.decide_change(viewer(request), listing_id, change_id, data)
