"""The application's services wired together once per process."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.accounts.passwords import PasswordHashing
from exchange.accounts.service import AccountService, LoginLimits
from exchange.accounts.sessions import SessionStore
from exchange.achievements.service import AchievementService
from exchange.agreements.service import AgreementService
from exchange.agreements.types import AgreementRules
from exchange.auctions.horizon import Horizon
from exchange.auctions.link import EngineLink
from exchange.auctions.qualification import AllOf, OperatorApproval
from exchange.auctions.service import AUCTION_NOTICE_DAYS, AuctionService
from exchange.calendar import WorkingDayCalendar
from exchange.catalogue.service import CatalogueService
from exchange.clock import Clock
from exchange.infra.ratelimit import RateLimiter
from exchange.listings.change_types import ChangeRules
from exchange.listings.changes import ListingChangeService
from exchange.listings.procedure import ListingProcedureService
from exchange.listings.procedure_rules import ProcedureBuyers
from exchange.listings.service import ListingService
from exchange.listings.types import ProcedureRules
from exchange.problems.service import ProblemService
from exchange.problems.types import ProblemRules
from exchange.quotes.service import QuoteService
from exchange.quotes.types import QuoteRules
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
    listing_changes: ListingChangeService
    procedure: ListingProcedureService
    catalogue: CatalogueService
    limiter: RateLimiter
    auctions: AuctionService
    settlement: SettlementService
    trades: TradeService
    tenders: TenderService
    problems: ProblemService
    quotes: QuoteService
    agreements: AgreementService

    def forget_revoked(self, what: str, key: str) -> None:
        """A revocation announced by any process: this one no longer trusts what it read of it."""
        if what == "session":
            self.sessions.forget(key)
        elif what == "token":
            try:
                self.accounts.forget(bytes.fromhex(key))
            except ValueError:
                self.accounts.forget()

    async def forget_everything(self) -> None:
        """Revocations may have been missed: nothing read before is trusted."""
        self.sessions.forget()
        self.accounts.forget()

    @classmethod
    def build(
        cls, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock, calendar: WorkingDayCalendar,
        hasher: PasswordHasher | None = None, *, cards: CardGateway | None = None,
        rules: SettlementRules | None = None, tender_secret: str | None = None,
        tender_rules: TenderRules | None = None, problem_rules: ProblemRules | None = None,
        quote_rules: QuoteRules | None = None,
        auction_notice_days: int = AUCTION_NOTICE_DAYS, agreement_rules: AgreementRules | None = None,
        procedure_rules: ProcedureRules | None = None, change_rules: ChangeRules | None = None,
        engine_link: EngineLink | None = None, horizon: Horizon | None = None,
        passwords: PasswordHashing | None = None, login_limits: LoginLimits | None = None,
    ) -> Services:
        """`tender_secret` wraps each tender's key (the exchange's secret key); without one, a key
        for this process only: proposals sealed by it cannot be opened after a restart.
        `engine_link`: the auction engine runs in another process, reached through it; without
        one it runs in this process (with `horizon`, when gateways link to it)."""
        limiter = RateLimiter(redis)
        auctions = AuctionService(pool, redis, clock, AllOf(OperatorApproval(), DepositHeld(), ProcedureBuyers()),
                                  notice=timedelta(days=auction_notice_days) / calendar.acceleration,
                                  acceleration=calendar.acceleration, link=engine_link, horizon=horizon)
        trades = TradeService(pool, clock, calendar, rules, cards)
        settlement = SettlementService(pool, clock, calendar, auctions, trades, rules, cards)
        secret = tender_secret or secrets.token_urlsafe(32)  # quote rounds' keys are wrapped by it too
        procedure = ListingProcedureService(pool, clock, calendar, auctions, settlement, trades, procedure_rules)
        auctions.on_scheduled.append(procedure.auction_scheduled)
        return cls(
            pool=pool,
            redis=redis,
            clock=clock,
            calendar=calendar,
            accounts=AccountService(pool, clock, limiter, hasher, passwords=passwords, limits=login_limits),
            sessions=SessionStore(pool, clock),
            achievements=AchievementService(pool, clock),
            listings=ListingService(pool, clock, calendar, procedure_rules),
            listing_changes=ListingChangeService(pool, clock, calendar, change_rules),
            procedure=procedure,
            catalogue=CatalogueService(pool, clock),
            limiter=limiter,
            auctions=auctions,
            settlement=settlement,
            trades=trades,
            tenders=TenderService(pool, clock, calendar, secret, tender_rules),
            problems=ProblemService(pool, clock, calendar, problem_rules),
            quotes=QuoteService(pool, clock, calendar, secret, settlement, quote_rules),
            agreements=AgreementService(pool, clock, calendar, trades, agreement_rules),
        )
