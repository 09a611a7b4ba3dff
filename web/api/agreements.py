"""Agreement pricing with notice (协议定价 + 公示) over HTTP: publish a notice (institutions), read
notices and their objections (everyone), object (anyone logged in but the parties), answer an
objection (operators), withdraw a notice (its institution)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.agreements.types import AgreementInput, ObjectionAnswer, ObjectionInput, WithdrawInput
from web.context import services, viewer


class AgreementsApi(Controller):
    path = "/api/agreements"
    tags = ["agreements"]

    @get("/", summary="Agreement-pricing notices, newest first; `open=true`: those still running or objected; "
                      "`mine=true`: yours as seller or buyer", cache=False)
    async def index(self, request: Request[Any, Any, Any],
                    open_only: Annotated[bool, QueryParameter(name="open")] = False,
                    mine: FromQuery[bool] = False) -> list[dict[str, Any]]:
        return await services(request).agreements.agreements(viewer(request), open_only=open_only, mine=mine)

    @post("/", status_code=HTTP_201_CREATED,
          summary="Publish an agreement-pricing notice for one of your achievements (institutions)")
    async def create(self, request: Request[Any, Any, Any], data: JSONBody[AgreementInput]) -> dict[str, Any]:
        return await services(request).agreements.create(viewer(request), data)

    @get("/{agreement_id:int}", summary="A notice with its objections (grounds and answers)", cache=False)
    async def one(self, request: Request[Any, Any, Any], agreement_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).agreements.agreement(viewer(request), agreement_id)

    @post("/{agreement_id:int}/objections", status_code=HTTP_201_CREATED,
          summary="Object while the notice runs (anyone logged in but the seller and the buyer)")
    async def object(self, request: Request[Any, Any, Any], agreement_id: FromPath[int],
                     data: JSONBody[ObjectionInput]) -> dict[str, Any]:
        return await services(request).agreements.object(viewer(request), agreement_id, data)

    @post("/{agreement_id:int}/objections/{objection_id:int}/answer", status_code=HTTP_200_OK,
          summary="Answer an objection, upheld (cancels the agreement) or dismissed; published (operators)")
    async def answer(self, request: Request[Any, Any, Any], agreement_id: FromPath[int],
                     objection_id: FromPath[int], data: JSONBody[ObjectionAnswer]) -> dict[str, Any]:
        return await services(request).agreements.answer(viewer(request), agreement_id, objection_id, data)

    @post("/{agreement_id:int}/withdraw", status_code=HTTP_200_OK,
          summary="Withdraw the notice before it clears, with the reason (its institution)")
    async def withdraw(self, request: Request[Any, Any, Any], agreement_id: FromPath[int],
                       data: JSONBody[WithdrawInput]) -> dict[str, Any]:
        return await services(request).agreements.withdraw(viewer(request), agreement_id, data)
