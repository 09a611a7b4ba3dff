"""Random sequences of deposits, bids, closes, payments, forfeits and refunds, run on real
PostgreSQL; after every step the ledger's invariants hold (exchange/ledger/check.py) and the
money each party is owed matches what the steps so far imply."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exchange.accounts.types import Account, Registration
from exchange.calendar import default_calendar
from exchange.clock import FixedClock
from exchange.errors import ExchangeError
from exchange.infra.db import create_pool
from exchange.ledger.check import check
from exchange.services import Services
from exchange.settlement.types import BankTransfer, Delivery, ForfeitDecision, PayoutSent
from tests.integration.conftest_auctions import announced_listing, spec

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEPOSIT = 12_000_00
_runs = itertools.count()
REACHED: set[str] = set()  # the states the sequences reached, checked below

PAYMENTS = st.lists(st.tuples(st.sampled_from(["pay", "pay_twice"]), st.integers(0, 3), st.booleans()), max_size=6)
BIDS = st.lists(st.tuples(st.just("bid"), st.integers(0, 3), st.integers(1, 40)), max_size=10)
AFTER_CLOSE = st.lists(st.one_of(
    st.tuples(st.sampled_from(["contract", "deliver", "accept", "send_payouts"]), st.just(0), st.just(True)),
    st.tuples(st.sampled_from(["balance", "decide"]), st.just(0), st.booleans()),
    st.tuples(st.just("days_pass"), st.integers(1, 8), st.just(True)),
    st.tuples(st.sampled_from(["pay", "bid"]), st.integers(0, 3), st.booleans()),  # too late: refused
), max_size=16)
# Deposits, then bids, the close, then the trade's steps, each list drawn at random.
STEPS = st.tuples(PAYMENTS, BIDS, AFTER_CLOSE).map(lambda p: [*p[0], *p[1], ("close", 0, True), *p[2]])


class Market:
    def __init__(self, services: Services, clock: FixedClock, operator: Account, seller: Account,
                 investors: list[Account], auction_id: int, deposits: dict[int, dict[str, Any]]) -> None:
        self.svc, self.clock, self.operator, self.seller = services, clock, operator, seller
        self.investors, self.auction_id, self.deposits = investors, auction_id, deposits

    async def trade(self) -> dict[str, Any] | None:
        trades = [t for t in await self.svc.trades.trades(self.operator) if t["auction_id"] == self.auction_id]
        return trades[0] if trades else None  # the newest: the next bidder's after a forfeiture

    async def step(self, op: str, arg: int, flag: bool) -> None:
        svc, operator = self.svc, self.operator
        if op in ("pay", "pay_twice"):
            deposit = self.deposits[self.investors[arg].id]
            line = BankTransfer(reference_code=deposit["reference_code"],
                                amount=deposit["amount"] if flag else deposit["amount"] + 1,
                                statement_ref=f"S-{deposit['reference_code']}")
            calls = [svc.settlement.confirm_bank_transfer(operator, line) for _ in range(2 if op == "pay_twice" else 1)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(r, (dict, ExchangeError)) for r in results), results
            assert sum(isinstance(r, dict) for r in results) <= 1
        elif op == "bid":
            room = await svc.auctions.room(self.auction_id, self.investors[arg])
            minimum = room.get("minimum_bid") or 100_000
            try:
                await svc.auctions.submit_bid(self.investors[arg], self.auction_id, "bid", minimum + (flag - 1) * 1_000)
            except ExchangeError:
                pass
        elif op == "close":
            self.clock.advance(timedelta(hours=2))
            await svc.auctions.fire_due()
        elif op == "days_pass":
            self.clock.advance(timedelta(days=arg))
            await svc.auctions.fire_due()
            await svc.settlement.sweep()
        elif op == "send_payouts":
            for payout in await svc.settlement.payouts(operator, status="to_send"):
                await svc.trades.mark_payout_sent(operator, payout["id"], PayoutSent(bank_ref=f"OUT-{payout['id']}"))
        else:
            await self._trade_step(op, flag)

    async def _trade_step(self, op: str, flag: bool) -> None:
        trade = await self.trade()
        if trade is None:
            return
        buyer = next(i for i in self.investors if i.id == trade["buyer_id"])
        try:
            if op == "contract":
                await self.svc.trades.confirm_contract(buyer, trade["id"])
            elif op == "balance":
                await self.svc.settlement.confirm_bank_transfer(self.operator, BankTransfer(
                    reference_code=trade["reference_code"], amount=trade["balance_due"] + (0 if flag else -1),
                    statement_ref=f"S-{trade['reference_code']}"))
            elif op == "deliver":
                await self.svc.trades.record_delivery(self.seller, trade["id"], Delivery(note="registered"))
            elif op == "accept":
                await self.svc.trades.accept_delivery(buyer, trade["id"])
            elif op == "decide":
                await self.svc.trades.decide_after_forfeit(
                    self.operator, trade["id"], ForfeitDecision(next_step="next_bidder" if flag else "relist"))
        except ExchangeError:
            pass  # refused in this state: the invariants below must still hold


async def _market(services: Services, clock: FixedClock, run: int) -> Market:
    async def account(role: str, name: str) -> Account:
        return await services.accounts.register(Registration(
            role=role, email=f"{name}{run}@prop.test", password="correct horse battery", display_name=name),
            allow_operator=role == "operator")

    operator, seller = await account("operator", "op"), await account("institution", "tto")
    investors = [await account("investor", f"vc{i}-") for i in range(4)]
    listing_id = await announced_listing(services, seller, operator, DEPOSIT)
    auction = await services.auctions.schedule(operator, listing_id, spec(clock.now()))
    deposits = {}
    for investor in investors:
        deposits[investor.id] = (await services.settlement.qualify(operator, auction["auction_id"], investor.id))["deposit"]
    clock.advance(timedelta(minutes=1))
    await services.auctions.fire_due()
    return Market(services, clock, operator, seller, investors, auction["auction_id"], deposits)


async def _owed_to_investors(services: Services) -> int:
    """What the exchange owes investors (posted credits less debits) must equal what they paid
    in, less what was applied to trades and refunded: checked through the bank account."""
    async with services.pool.acquire() as conn:
        owed: int = await conn.fetchval(
            "SELECT coalesce(sum(credits_posted - debits_posted - debits_pending), 0) FROM ledger_accounts "
            "WHERE kind = 'investor'")
    return owed


async def _run(database_url: str, redis_url: str, steps: list[tuple[str, int, bool]]) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=6)
    redis = aioredis.Redis.from_url(redis_url)
    clock = FixedClock(START)
    services = Services.build(pool, redis, clock, default_calendar(),
                              PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), auction_notice_days=0)
    await services.auctions.start()
    try:
        market = await _market(services, clock, next(_runs))
        for op, arg, flag in steps:
            await market.step(op, arg, flag)
            async with pool.acquire() as conn:
                failures = await check(conn)
            assert failures == [], (op, arg, flag, failures)
            assert await _owed_to_investors(services) >= 0
            REACHED.update(t["status"] for t in await services.trades.trades(market.operator)
                           if t["auction_id"] == market.auction_id)
            REACHED.update(f"deposit {d['status']}" for d in await services.settlement.deposits(market.operator)
                           if d["auction_id"] == market.auction_id)
    finally:
        await services.auctions.stop()
        await redis.aclose()
        await pool.close()


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
@example(steps=[("pay", 0, True), ("pay", 1, True), ("bid", 0, 1), ("bid", 1, 3), ("close", 0, True),
                ("contract", 0, True), ("balance", 0, False), ("balance", 0, True), ("deliver", 0, True),
                ("accept", 0, True), ("send_payouts", 0, True)])
@example(steps=[("pay_twice", 0, True), ("pay", 1, True), ("pay", 2, True), ("bid", 0, 1), ("bid", 1, 2),
                ("bid", 2, 5), ("close", 0, True), ("days_pass", 8, True), ("decide", 0, True),
                ("contract", 0, True), ("balance", 0, True), ("deliver", 0, True), ("days_pass", 8, True),
                ("send_payouts", 0, True)])
def test_the_ledger_invariants_hold_after_every_step_of_any_sequence(
    database_url: str, redis_url: str, steps: list[tuple[str, int, bool]],
) -> None:
    asyncio.run(_run(database_url, redis_url, steps))


def test_the_sequences_reach_every_settlement_state() -> None:
    """Guards the property test above against sequences too short to get anywhere."""
    expected = {"awaiting_contract", "awaiting_balance", "awaiting_delivery", "delivered", "released", "forfeited",
                "deposit due", "deposit held", "deposit applied", "deposit released", "deposit lapsed"}
    assert expected <= REACHED, expected - REACHED
