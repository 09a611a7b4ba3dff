"""Shared fixtures: one embedded PostgreSQL and one Redis per test session, a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from exchange.calendar import default_calendar
from exchange.clock import FixedClock
from exchange.config import PROJECT_ROOT
from exchange.infra.db import create_pool
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.infra.migrations import migrate
from exchange.services import Services

TEMPLATE_DB = "exchange_template"
_numbers = itertools.count(1)
# 2026-03-02 10:00 Asia/Shanghai, a Monday with no holiday near it.
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persistent=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
async def template_database(pg_server: EmbeddedPostgres) -> str:
    pg_server.psql(f"DROP DATABASE IF EXISTS {TEMPLATE_DB}")
    pg_server.psql(f"CREATE DATABASE {TEMPLATE_DB}")
    conn = await asyncpg.connect(pg_server.url(TEMPLATE_DB))
    try:
        await migrate(conn, PROJECT_ROOT / "migrations")
    finally:
        await conn.close()
    return TEMPLATE_DB


@pytest.fixture
async def database_url(pg_server: EmbeddedPostgres, template_database: str) -> AsyncIterator[str]:
    name = f"test_{next(_numbers)}"
    pg_server.psql(f"CREATE DATABASE {name} TEMPLATE {template_database}")
    yield pg_server.url(name)
    pg_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def redis_url(redis_server: EmbeddedRedis) -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    yield redis_server.url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def services(database_url: str, redis_url: str, clock: FixedClock) -> AsyncIterator[Services]:
    pool = await create_pool(database_url, min_size=1, max_size=10)
    redis = aioredis.Redis.from_url(redis_url)
    # Cheap hashing parameters keep the suite fast; production uses argon2's defaults.
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    # Tests open auctions minutes after scheduling them; the 7-day notice rule has its own tests.
    yield Services.build(pool, redis, clock, default_calendar(), hasher, auction_notice_days=0)
    await redis.aclose()
    await pool.close()


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
