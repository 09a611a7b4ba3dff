"""Start-up and shutdown of one exchange process: servers, migrations, services."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from exchange.accounts.passwords import HashingRules, PasswordHashing
from exchange.accounts.service import LoginLimits
from exchange.agreements.types import AgreementRules
from exchange.auctions.horizon import Horizon
from exchange.auctions.link import EngineLink
from exchange.calendar import default_calendar
from exchange.clock import Clock, SystemClock
from exchange.config import Settings
from exchange.infra.db import create_pool
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.migrations import migrate
from exchange.listings.change_types import ChangeRules
from exchange.listings.types import ProcedureRules
from exchange.problems.types import ProblemRules
from exchange.quotes.types import QuoteRules
from exchange.services import Services
from exchange.settlement.stripe_gateway import StripeGateway
from exchange.settlement.types import SettlementRules
from exchange.tenders.types import TenderRules

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0


@contextmanager
def servers(settings: Settings, *, owner: bool = False) -> Iterator[tuple[str, str]]:
    """The database and Redis URLs: the configured ones, else embedded servers under var/.

    The `owner` (`exchange run`) stops the embedded PostgreSQL at the end even when it found
    it running; other commands stop only what they started."""
    postgres = redis = None
    try:
        database_url = settings.database_url
        if database_url is None:
            postgres = EmbeddedPostgres(settings.var_dir / "postgres")
            database_url = postgres.start()
            log.info("embedded PostgreSQL running, data in %s", postgres.data_dir)
        redis_url = settings.redis_url
        if redis_url is None:
            redis = EmbeddedRedis(settings.var_dir / "redis")
            redis_url = redis.start()
            log.info("embedded Redis running, data in %s", redis.data_dir)
        yield database_url, redis_url
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop(even_if_found_running=owner)


async def migrate_database(settings: Settings, database_url: str) -> None:
    """Applies pending migrations once, before the processes that use the database start."""
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            for name in await migrate(conn, settings.migrations_dir):
                log.info("applied migration %s", name)
    finally:
        await pool.close()


@asynccontextmanager
async def open_services(
    settings: Settings, database_url: str, redis_url: str, clock: Clock | None = None, *,
    engine_link: EngineLink | None = None, horizon: Horizon | None = None, connections: int = 20,
) -> AsyncIterator[Services]:
    """`engine_link`: the auction engine runs in another process; `horizon`: this process runs
    it and gateways link to it. `connections`: the most PostgreSQL connections it opens."""
    pool = await create_pool(database_url, max_size=connections)
    # Redis answers in well under a millisecond: a second without an answer means it is stopped
    # or hung, and every caller (a login, the feed) should know at once, retrying once at most.
    redis = aioredis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
                                    retry=Retry(NoBackoff(), 1), health_check_interval=5)
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn, settings.migrations_dir)
        for name in applied:
            log.info("applied migration %s", name)
        cards = StripeGateway.from_env()  # card payments when STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are set
        if cards is not None:
            log.info("card payments enabled through Stripe")
        hashing = HashingRules.from_env(os.environ)
        passwords = PasswordHashing(workers=hashing.workers, queue=hashing.queue)
        try:
            yield Services.build(pool, redis, clock or SystemClock(), default_calendar(settings.acceleration),
                                 cards=cards, rules=SettlementRules.from_env(os.environ),
                                 tender_secret=settings.secret_key, tender_rules=TenderRules.from_env(os.environ),
                                 problem_rules=ProblemRules.from_env(os.environ),
                                 quote_rules=QuoteRules.from_env(os.environ),
                                 auction_notice_days=settings.auction_notice_days,
                                 agreement_rules=AgreementRules.from_env(os.environ),
                                 procedure_rules=ProcedureRules.from_env(os.environ),
                                 change_rules=ChangeRules.from_env(os.environ),
                                 engine_link=engine_link, horizon=horizon, passwords=passwords,
                                 login_limits=LoginLimits.from_env(os.environ))
        finally:
            passwords.close()
            if cards is not None:
                await cards.aclose()
    finally:
        await redis.aclose()
        await pool.close()
