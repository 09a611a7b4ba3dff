"""What the benchmarks bid on: accounts and open auctions, made through the services users go through."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exchange.accounts.types import Account, Registration
from exchange.achievements.types import AchievementInput
from exchange.auctions.types import AuctionSpec
from exchange.listings.types import ListingInput, Review
from exchange.services import Services


@dataclass
class Parties:
    operator: Account
    seller: Account
    bidders: list[Account]


async def parties(services: Services, bidders: int) -> Parties:
    def form(role: str, email: str) -> Registration:
        return Registration(role=role, email=email, password=secrets.token_urlsafe(16), display_name=email)

    operator = await services.accounts.register(form("operator", "op@bench.test"), allow_operator=True)
    seller = await services.accounts.register(form("institution", "tto@bench.test"))
    investors = [await services.accounts.register(form("investor", f"b{i}@bench.test")) for i in range(bidders)]
    return Parties(operator, seller, investors)


async def open_auction(services: Services, who: Parties, n: int, start_price: int, step: int) -> int:
    """An announced listing auctioned from now for two hours, every bidder qualified."""
    achievement = await services.achievements.record(who.seller, AchievementInput(
        title=f"Bench achievement {n}", summary="bench", field="other", kind="patent",
        funding_source="non_public", maturity="pilot"))
    listing = await services.listings.submit(who.seller, ListingInput(
        achievement_id=achievement.id, listing_price=start_price, terms="bench", bidder_conditions="bench",
        deposit=0))
    await services.listings.review(who.operator, listing.id, Review(decision="approve"))
    now = datetime.now(UTC)
    auction = await services.auctions.schedule(who.operator, listing.id, AuctionSpec(
        start_price=start_price, increment=step, opens_at=now, scheduled_end=now + timedelta(hours=2)))
    lot: int = auction["auction_id"]
    for account in who.bidders:
        await services.auctions.approve_bidder(who.operator, lot, account.id)
    return lot
