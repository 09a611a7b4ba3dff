"""Live auctions over HTTP: schedule, qualify bidders, read the room, bid with an Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from exchange.auctions.types import AuctionSpec
from exchange.errors import ValidationFailed
from web.context import services, viewer
from web.errors import PROBLEM_JSON
from web.receipt import receipt


class ScheduleInput(AuctionSpec, frozen=True, forbid_unknown_fields=True):
    listing_id: int = 0


class BidderInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    investor_id: int


class BidInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`bid`: exactly `amount`; `proxy`: a maximum the exchange bids up to for you."""

    amount: int
    kind: Literal["bid", "proxy"] = "bid"


class AuctionsApi(Controller):
    path = "/api/auctions"
    tags = ["auctions"]

    @get("/", summary="Auctions: scheduled, open and closed")
    async def index(self, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
        return await services(request).auctions.list_auctions()

    @post("/", status_code=HTTP_201_CREATED, summary="Schedule an English auction for an announced listing (operators)")
    async def schedule(self, request: Request[Any, Any, Any], data: JSONBody[ScheduleInput]) -> dict[str, Any]:
        return await services(request).auctions.schedule(viewer(request), data.listing_id, data)

    @get("/{auction_id:int}", summary="The auction room: price, ladder, countdown, your standing", cache=False)
    async def room(self, request: Request[Any, Any, Any], auction_id: FromPath[int]) -> dict[str, Any]:
        return await services(request).auctions.room(auction_id, viewer(request))

    @get("/{auction_id:int}/events", summary="Committed events after a sequence number (feed resync)", cache=False)
    async def events(
        self, request: Request[Any, Any, Any], auction_id: FromPath[int], after: FromQuery[int] = 0,
    ) -> list[dict[str, Any]]:
        if after < 0:
            raise ValidationFailed("after must be 0 or more", field_errors={"after": "must be a sequence number, 0 or more"})
        await services(request).auctions.get(auction_id)
        return await services(request).auctions.events_after(auction_id, after)

    @post("/{auction_id:int}/bidders", status_code=HTTP_201_CREATED, summary="Qualify an investor: admitted at once, or once the deposit is held (operators)")
    async def approve(
        self, request: Request[Any, Any, Any], auction_id: FromPath[int], data: JSONBody[BidderInput]
    ) -> dict[str, Any]:
        return await services(request).settlement.qualify(viewer(request), auction_id, data.investor_id)


class LotBidsApi(Controller):
    path = "/api/lots"
    tags = ["auctions"]

    @post(
        "/{auction_id:int}/bids",
        summary="Bid on a lot (approved investors). Send an Idempotency-Key: a retry with it returns the first answer.",
        responses=None,
    )
    async def bid(
        self,
        request: Request[Any, Any, Any],
        auction_id: FromPath[int],
        data: JSONBody[BidInput],
        idempotency_key: Annotated[str | None, HeaderParameter(name="Idempotency-Key")] = None,
    ) -> Response[dict[str, Any]]:
        if idempotency_key is None:  # its form is checked by the service, as for websocket bids
            raise ValidationFailed(
                "an Idempotency-Key header is required",
                field_errors={"Idempotency-Key": "send a unique key per bid, and the same key when you retry it"},
            )
        ack = await services(request).auctions.submit_bid(
            viewer(request), auction_id, data.kind, data.amount, idempotency_key, ticket=receipt(request)
        )
        if ack["status"] == "accepted":
            return Response(ack, status_code=HTTP_201_CREATED)
        body = {
            "type": f"https://docs.tech-exchange.invalid/problems/bid-{ack['code']}",
            "title": "Bid rejected",
            "status": 422,
            "detail": ack.get("reason", ""),
            "instance": request.url.path,
            "code": ack["code"],
            "ack": ack,
        }
        return Response(body, status_code=422, media_type=PROBLEM_JSON)
