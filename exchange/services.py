"""The application's services wired together once per process."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.accounts.service import AccountService
from exchange.accounts.sessions import SessionStore
from exchange.achievements.service import AchievementService
from exchange.auctions.qualification import AllOf, OperatorApproval
from exchange.auctions.service import AuctionService
from exchange.calendar import WorkingDayCalendar
from exchange.catalogue.service import CatalogueService
from exchange.clock import Clock
from exchange.infra.ratelimit import RateLimiter
from exchange.listings.service import ListingService
from exchange.problems.service import ProblemService
from exchange.problems.types import ProblemRules
from exchange.settlement.cards import CardGateway
from exchange.settlement.qualification import DepositHeld
from exchange.settlement.service import SettlementService
from exchange.settlement.trades import TradeService
from exchange.settlement.types import SettlementRules
from exchange.tenders.service import TenderService
from exchange.tenders.types import TenderRules


@dataclass
class Services:
    pool: asyncpg.Pool
    redis: aioredis.Redis
    clock: Clock
    calendar: WorkingDayCalendar
    accounts: AccountService
    sessions: SessionStore
    achievements: AchievementService
    listings: ListingService
    catalogue: CatalogueService
    limiter: RateLimiter
    auctions: AuctionService
    settlement: SettlementService
    trades: TradeService
    tenders: TenderService
    problems: ProblemService

    @classmethod
    def build(
        cls, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock, calendar: WorkingDayCalendar,
        hasher: PasswordHasher | None = None, *, cards: CardGateway | None = None,
        rules: SettlementRules | None = None, tender_secret: str | None = None,
        tender_rules: TenderRules | None = None, problem_rules: ProblemRules | None = None,
    ) -> Services:
        """`tender_secret` wraps each tender's key (the exchange's secret key); without one, a key
        for this process only: proposals sealed by it cannot be opened after a restart."""
        limiter = RateLimiter(redis)
        auctions = AuctionService(pool, redis, clock, AllOf(OperatorApproval(), DepositHeld()))
        trades = TradeService(pool, clock, calendar, rules, cards)
        return cls(
            pool=pool,
            redis=redis,
            clock=clock,
            calendar=calendar,
            accounts=AccountService(pool, clock, limiter, hasher),
            sessions=SessionStore(redis),
            achievements=AchievementService(pool, clock),
            listings=ListingService(pool, clock, calendar),
            catalogue=CatalogueService(pool, clock),
            limiter=limiter,
            auctions=auctions,
            settlement=SettlementService(pool, clock, calendar, auctions, trades, rules, cards),
            trades=trades,
            tenders=TenderService(pool, clock, calendar, tender_secret or secrets.token_urlsafe(32), tender_rules),
            problems=ProblemService(pool, clock, calendar, problem_rules),
        )
