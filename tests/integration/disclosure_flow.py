"""Builders for the disclosure tests: a sale run from deposits to a delivered trade."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exchange.clock import FixedClock
from exchange.disclosure import Record
from exchange.disclosure import repository as repo
from exchange.services import Services
from exchange.settlement.types import BankTransfer, Delivery
from tests.integration.settlement_flow import Sale, open_and_close, pay_by_bank, qualified_auction

PRICE = 10_000_000  # 100,000 yuan


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[Services]:
    await services.auctions.start()
    yield services
    await services.auctions.stop()


async def sold(services: Services, clock: FixedClock) -> tuple[Sale, dict[str, Any]]:
    """Three investors with deposits held; the first wins at PRICE."""
    sale = await qualified_auction(services, clock)
    for investor in sale.parties.investors:
        await pay_by_bank(services, sale, investor.id)
    await open_and_close(services, clock, sale, [(0, 5_000_000), (1, 8_000_000), (0, PRICE)])
    (trade,) = await services.trades.trades(sale.parties.operator)
    return sale, trade


async def delivered(services: Services, clock: FixedClock) -> tuple[Sale, int]:
    sale, trade = await sold(services, clock)
    trade_id = int(trade["id"])
    await services.trades.confirm_contract(sale.parties.investors[0], trade_id)
    current = await services.trades.trade(sale.parties.operator, trade_id)
    await services.settlement.confirm_bank_transfer(sale.parties.operator, BankTransfer(
        reference_code=str(trade["reference_code"]), amount=current["balance_due"], statement_ref="STMT-BAL"))
    await services.trades.record_delivery(sale.parties.seller, trade_id, Delivery(note="CNIPA assignment registered"))
    return sale, trade_id


async def chain(services: Services) -> list[Record]:
    async with services.pool.acquire() as conn:
        return await repo.page(conn, limit=200)


async def exchange_verify(database_url: str, redis_url: str, var_dir: str) -> tuple[int, str]:
    """`exchange verify` as an operator runs it, against the test database."""
    env = os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "EXCHANGE_VAR_DIR": var_dir}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", "verify", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()
