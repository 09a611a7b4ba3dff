from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from exchange.achievements.types import Achievement, AchievementInput
from exchange.listings.types import Listing, ListingInput, Review, ReviewRecord
from web.context import services, viewer


class AchievementsApi(Controller):
    path = "/api/achievements"
    tags = ["achievements"]

    @post("/", status_code=HTTP_201_CREATED, summary="Record an achievement (institutions)")
    async def record(self, request: Request[Any, Any, Any], data: JSONBody[AchievementInput]) -> Achievement:
        return await services(request).achievements.record(viewer(request), data)

    @get("/", summary="Your institution's achievements")
    async def mine(self, request: Request[Any, Any, Any]) -> list[Achievement]:
        return await services(request).achievements.list_own(viewer(request))

    @get("/{achievement_id:int}", summary="One of your achievements")
    async def one(self, request: Request[Any, Any, Any], achievement_id: FromPath[int]) -> Achievement:
        return await services(request).achievements.get_own(viewer(request), achievement_id)

    @put("/{achievement_id:int}", summary="Edit one of your achievements")
    async def edit(self, request: Request[Any, Any, Any], achievement_id: FromPath[int], data: JSONBody[AchievementInput]) -> Achievement:
        return await services(request).achievements.edit(viewer(request), achievement_id, data)


class ListingsApi(Controller):
    path = "/api/listings"
    tags = ["listings"]

    @post("/", status_code=HTTP_201_CREATED, summary="Submit a listing for review (institutions)")
    async def submit(self, request: Request[Any, Any, Any], data: JSONBody[ListingInput]) -> Listing:
        return await services(request).listings.submit(viewer(request), data)

    @get("/mine", summary="Your institution's listings, any status")
    async def mine(self, request: Request[Any, Any, Any]) -> list[Listing]:
        return await services(request).listings.of_seller(viewer(request))

    @get("/{listing_id:int}", summary="A listing: public once announced")
    async def one(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Listing:
        return await services(request).listings.get_for(viewer(request), listing_id)

    @get("/{listing_id:int}/reviews", summary="Review history (seller and operators)")
    async def reviews(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> list[ReviewRecord]:
        return await services(request).listings.reviews(viewer(request), listing_id)

    @put("/{listing_id:int}", summary="Correct and resubmit a returned listing")
    async def resubmit(self, request: Request[Any, Any, Any], listing_id: FromPath[int], data: JSONBody[ListingInput]) -> Listing:
        return await services(request).listings.resubmit(viewer(request), listing_id, data)

    @post("/{listing_id:int}/withdraw", status_code=200, summary="Withdraw a listing not yet announced")
    async def withdraw(self, request: Request[Any, Any, Any], listing_id: FromPath[int]) -> Listing:
        return await services(request).listings.withdraw(viewer(request), listing_id)

    @post("/{listing_id:int}/review", status_code=200, summary="Approve or return a listing (operators)")
    async def review(self, request: Request[Any, Any, Any], listing_id: FromPath[int], data: JSONBody[Review]) -> Listing:
        return await services(request).listings.review(viewer(request), listing_id, data)


class ReviewQueueApi(Controller):
    path = "/api/review"
    tags = ["review"]

    @get("/listings", summary="Listings awaiting review (operators)")
    async def queue(self, request: Request[Any, Any, Any]) -> list[Listing]:
        return await services(request).listings.review_queue(viewer(request))
