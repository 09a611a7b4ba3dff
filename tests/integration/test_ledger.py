"""The ledger's two-phase transfers on real PostgreSQL: ids, replays, holds resolved once, limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from exchange.errors import Conflict, NotFound
from exchange.ledger import ledger
from exchange.ledger.check import INVARIANTS, check
from exchange.ledger.ledger import Account
from exchange.services import Services

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
BANK, HELD = ledger.bank("CNY"), Account.deposits_held("CNY")
# The ledger's own invariants; the others tie it to payments and deposits, absent here.
LEDGER_ONLY = {i.name for i in INVARIANTS[:4]}


async def _ledger_holds(conn: object) -> bool:
    return [f for f in await check(conn) if f.invariant in LEDGER_ONLY] == []  # type: ignore[arg-type]


async def _investor(services: Services) -> Account:
    async with services.pool.acquire() as conn:
        account_id: int = await conn.fetchval(
            "INSERT INTO accounts (role, email, display_name, password_hash, created_at) "
            "VALUES ('investor', 'l@x.test', 'L', 'x', now()) RETURNING id")
    return ledger.investor(account_id, "CNY")


async def test_a_replayed_transfer_returns_the_first_result_and_moves_nothing(services: Services) -> None:
    investor = await _investor(services)
    async with services.pool.acquire() as conn:
        first = await ledger.transfer(conn, "pay:1", BANK, investor, 500, NOW, memo="in")
        again = await ledger.transfer(conn, "pay:1", BANK, investor, 500, NOW, memo="in, retried")
        assert again == first
        with pytest.raises(Conflict, match="different transfer"):
            await ledger.transfer(conn, "pay:1", BANK, investor, 501, NOW, memo="in")
        balance = await ledger.balance(conn, investor.code)
    assert balance is not None and balance.credits_posted == 500


async def test_a_hold_is_posted_or_voided_once(services: Services) -> None:
    investor = await _investor(services)
    async with services.pool.acquire() as conn:
        await ledger.transfer(conn, "pay:1", BANK, investor, 500, NOW, memo="in")
        await ledger.transfer(conn, "hold:1", investor, HELD, 400, NOW, memo="hold", pending=True)
        held = await ledger.balance(conn, investor.code)
        assert held is not None and held.available == 100
        with pytest.raises(Conflict, match="insufficient"):
            async with conn.transaction():
                await ledger.transfer(conn, "hold:2", investor, HELD, 101, NOW, memo="hold", pending=True)
        voided = await ledger.void(conn, "void:1", "hold:1", NOW, memo="release")
        assert await ledger.void(conn, "void:1", "hold:1", NOW, memo="release") == voided  # a replay
        with pytest.raises(Conflict, match="already resolved"):
            await ledger.post(conn, "post:1", "hold:1", NOW, memo="apply")
        with pytest.raises(NotFound):
            await ledger.post(conn, "post:2", "hold:404", NOW, memo="apply")
        with pytest.raises(Conflict, match="not a pending"):
            await ledger.post(conn, "post:3", "pay:1", NOW, memo="apply")
        after = await ledger.balance(conn, investor.code)
        assert after is not None and (after.debits_pending, after.debits_posted, after.available) == (0, 0, 500)
        assert await _ledger_holds(conn)


async def test_two_resolutions_racing_for_one_hold_have_one_effect(services: Services) -> None:
    investor = await _investor(services)
    async with services.pool.acquire() as conn:
        await ledger.transfer(conn, "pay:1", BANK, investor, 500, NOW, memo="in")
        await ledger.transfer(conn, "hold:1", investor, HELD, 500, NOW, memo="hold", pending=True)

    async def resolve(kind: str) -> str:
        async with services.pool.acquire() as conn, conn.transaction():
            action = ledger.post if kind == "post" else ledger.void
            await action(conn, f"{kind}:1", "hold:1", NOW, memo=kind)
            await asyncio.sleep(0.05)  # hold the row lock while the other waits
            return kind

    results = await asyncio.gather(resolve("post"), resolve("void"), return_exceptions=True)
    assert sum(isinstance(r, str) for r in results) == 1 and sum(isinstance(r, Conflict) for r in results) == 1
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_transfers WHERE pending_id = 'hold:1'") == 1
        assert await _ledger_holds(conn)


async def test_money_cannot_leave_the_bank_before_it_arrived(services: Services) -> None:
    investor = await _investor(services)
    async with services.pool.acquire() as conn:
        await ledger.transfer(conn, "card:1", ledger.card("CNY"), investor, 100, NOW, memo="paid by card")
        with pytest.raises(Conflict, match="bank:CNY"):
            async with conn.transaction():
                await ledger.transfer(conn, "refund:1", investor, BANK, 1, NOW, memo="out by bank")
        assert await conn.fetchval("SELECT count(*) FROM ledger_transfers") == 1
