"""The listing procedure after the announcement over HTTP: intents, the institution's comments,
the operator's qualification, the one buyer's agreement quote and the relisting of an unsold
listing. An English-auction competition is scheduled with POST /api/auctions/."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.listings.procedure_types import (
    AgreementQuote,
    IntentComment,
    IntentDecision,
    IntentInput,
)
from exchange.listings.types import Listing, ListingInput
from web.context import services, viewer


class ListingProcedureApi(Controller):
    path = "/api/listings/{listing_id:int}"
    tags = ["listing procedure"]

    @get("/procedure", summary="The procedure after the announcement: deadlines, intents as you may see "
                               "them, deposits, the outcome", cache=False)
    async def procedure(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).procedure.procedure(viewer(request), listing_id)

    @post("/intents", status_code=HTTP_201_CREATED,
          summary="Register intent during the announcement period (investors; never the seller)")
    async def register(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                       data: JSONBody[IntentInput]) -> dict[str, Any]:
        return await services(request).procedure.register_intent(viewer(request), listing_id, data)

    @post("/intents/withdraw", status_code=HTTP_200_OK, summary="Withdraw your intent before the period ends")
    async def withdraw(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).procedure.withdraw_intent(viewer(request), listing_id)

    @post("/intents/{intent_id:int}/comment", status_code=HTTP_200_OK,
          summary="The institution's comment on an intent, until the qualification is due")
    async def comment(self, request: Request[Any, Any, Any], listing_id: FromPath[int], intent_id: FromPath[int],
                      data: JSONBody[IntentComment]) -> dict[str, Any]:
        return await services(request).procedure.comment(viewer(request), listing_id, intent_id, data)

    @post("/intents/{intent_id:int}/decision", status_code=HTTP_200_OK,
          summary="Qualify or refuse an intent against the published conditions (operators)")
    async def decide(self, request: Request[Any, Any, Any], listing_id: FromPath[int], intent_id: FromPath[int],
                     data: JSONBody[IntentDecision]) -> dict[str, Any]:
        return await services(request).procedure.decide(viewer(request), listing_id, intent_id, data)

    @post("/agreement", status_code=HTTP_201_CREATED,
          summary="The one qualified buyer confirms a quote at or above the listing price: the trade opens")
    async def agreement(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                        data: JSONBody[AgreementQuote]) -> dict[str, Any]:
        return await services(request).procedure.confirm_agreement(viewer(request), listing_id, data)

    @post("/relist", status_code=HTTP_201_CREATED,
          summary="Relist an unsold listing (its institution): a new listing back to the operator's review")
    async def relist(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                     data: JSONBody[ListingInput]) -> Listing:
        return await services(request).procedure.relist(viewer(request), listing_id, data)
