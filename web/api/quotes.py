"""Quote rounds over HTTP: one-time sealed quotes (一次性报价) and weighted quotes (综合评议) of a
listing in competition. The operator opens the round; the listing's buyers submit one sealed
quote each and get a receipt; the round opens at its deadline; for a weighted quote the
operator enters the evaluation panel's scores."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from exchange.quotes.types import QuoteInput, RoundInput, ScoresInput
from web.context import services, viewer


class QuoteRoundIndexApi(Controller):
    path = "/api/quote-rounds"
    tags = ["quotes"]

    @get("/", summary="Every quote round, newest first; `status`: collecting, opened, awarded or failed", cache=False)
    async def index(self, request: Request[Any, Any, Any], status: FromQuery[str | None] = None) -> list[dict[str, Any]]:
        return await services(request).quotes.rounds(status)


class QuoteRoundsApi(Controller):
    path = "/api/listings/{listing_id:int}/quote-round"
    tags = ["quotes"]

    @get("/", summary="The listing's quote round: status, deadline, count; after the opening the quotes and result",
         cache=False)
    async def one(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).quotes.round(viewer(request), listing_id)

    @post("/", status_code=HTTP_201_CREATED,
          summary="Open the quote round with its deadline, at least 3 working days away (operators)")
    async def open(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                   data: JSONBody[RoundInput]) -> dict[str, Any]:
        return await services(request).quotes.open_round(viewer(request), listing_id, data)

    @post("/quotes", summary="Submit your sealed quote (the listing's buyers with a held deposit): the answer is "
                             "your receipt; the same quote again returns it (200)")
    async def quote(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                    data: JSONBody[QuoteInput]) -> Response[dict[str, Any]]:
        receipt = await services(request).quotes.submit(viewer(request), listing_id, data)
        return Response(receipt, status_code=HTTP_200_OK if receipt["replayed"] else HTTP_201_CREATED)

    @post("/scores", status_code=HTTP_200_OK,
          summary="The evaluation panel's technical scores, 0..100 per bidder: ranks and awards (operators)")
    async def scores(self, request: Request[Any, Any, Any], listing_id: FromPath[int],
                     data: JSONBody[ScoresInput]) -> dict[str, Any]:
        return await services(request).quotes.score(viewer(request), listing_id, data)
