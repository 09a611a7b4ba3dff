"""Builders for the auction tests: accounts, an announced listing, a scheduled auction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange.accounts.types import Account, Registration
from exchange.achievements.types import AchievementInput
from exchange.auctions.service import AuctionService
from exchange.auctions.types import AuctionSpec
from exchange.listings.types import ListingInput, Review
from exchange.services import Services

PASSWORD = "correct horse battery"


@dataclass
class Parties:
    operator: Account
    seller: Account
    other_institution: Account
    investors: list[Account]
    listing_id: int


async def _account(services: Services, role: str, email: str) -> Account:
    return await services.accounts.register(
        Registration(role=role, email=email, password=PASSWORD, display_name=email.split("@")[0]),
        allow_operator=role == "operator",
    )


async def announced_listing(services: Services, seller: Account, operator: Account, deposit: int = 0) -> int:
    """Without a deposit by default: approval alone admits a bidder (the settlement tests ask one)."""
    achievement = await services.achievements.record(seller, AchievementInput(
        title="一种锂电池正极材料的制备方法", summary="单晶高镍正极，循环寿命提升 30%。",
        field="new_energy", kind="patent", funding_source="public", maturity="pilot", programme="国家重点研发计划",
        title_en="Preparation of a lithium battery cathode material",
    ))
    listing = await services.listings.submit(seller, ListingInput(
        achievement_id=achievement.id, listing_price=120_000_00,
        terms="合同签订后 10 个工作日内付清。", bidder_conditions="依法设立的企业法人。", deposit=deposit,
    ))
    await services.listings.review(operator, listing.id, Review(decision="approve"))
    return listing.id


async def make_parties(services: Services, investors: int = 3, deposit: int = 0) -> Parties:
    operator = await _account(services, "operator", "op@exchange.test")
    seller = await _account(services, "institution", "tto@north.test")
    other = await _account(services, "institution", "tto@south.test")
    bidders = [await _account(services, "investor", f"vc{i}@capital.test") for i in range(investors)]
    listing_id = await announced_listing(services, seller, operator, deposit)
    return Parties(operator, seller, other, bidders, listing_id)


def spec(now: datetime, **overrides: object) -> AuctionSpec:
    values: dict[str, object] = {
        "start_price": 100_000, "increment": 1_000, "opens_at": now + timedelta(minutes=1),
        "scheduled_end": now + timedelta(hours=1), "quiet_period_s": 300,
    }
    values.update(overrides)
    return AuctionSpec(**values)  # type: ignore[arg-type]


async def live_auction(engine: AuctionService, parties: Parties, now: datetime, **overrides: object) -> int:
    """Scheduled, every investor approved; bidding open once the clock reaches opens_at."""
    auction = await engine.schedule(parties.operator, parties.listing_id, spec(now, **overrides))
    for investor in parties.investors:
        await engine.approve_bidder(parties.operator, auction["auction_id"], investor.id)
    auction_id: int = auction["auction_id"]
    return auction_id
