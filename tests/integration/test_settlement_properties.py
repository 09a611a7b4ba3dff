"""Random sequences of deposits, bids, closes, payments, forfeits and refunds, each run on a
fresh PostgreSQL database. After every step the ledger's invariants hold
(exchange/ledger/check.py), the step was accepted or refused as the steps before it imply,
every deposit and trade is in the state they imply, and every ledger account and payout holds
exactly the money they imply: what each investor paid in and has on hold, had applied to a
price, was refunded or paid as a balance; what the seller earned; what sits in escrow and
revenue. The expected amounts come from the deposit amount, the prices and the settlement
rules alone, never from the ledger."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exchange.accounts.types import Account, Registration
from exchange.calendar import default_calendar
from exchange.clock import FixedClock
from exchange.errors import Conflict, ExchangeError
from exchange.infra.db import create_pool
from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.ledger.check import check
from exchange.services import Services
from exchange.settlement.types import (
    BankTransfer,
    Delivery,
    ForfeitDecision,
    PayoutSent,
    commission,
)
from tests.integration.conftest_auctions import announced_listing, spec

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
DEPOSIT = 12_000_00
CUR = "CNY"
_databases = itertools.count()

# At least one payment and one bid: without them most draws ended at an unsold close.
PAYMENTS = st.lists(st.tuples(st.sampled_from(["pay", "pay_twice"]), st.integers(0, 3), st.booleans()),
                    min_size=1, max_size=6)
BIDS = st.lists(st.tuples(st.just("bid"), st.integers(0, 3), st.integers(1, 40)), min_size=1, max_size=10)
AFTER_CLOSE = st.lists(st.one_of(
    st.tuples(st.sampled_from(["contract", "deliver", "accept", "send_payouts"]), st.just(0), st.just(True)),
    st.tuples(st.sampled_from(["balance", "decide"]), st.just(0), st.booleans()),
    st.tuples(st.just("days_pass"), st.integers(1, 8), st.just(True)),
    st.tuples(st.sampled_from(["pay", "bid"]), st.integers(0, 3), st.booleans()),  # too late: refused
), max_size=16)
# Deposits, then bids, the close, then the trade's steps, each list drawn at random.
STEPS = st.tuples(PAYMENTS, BIDS, AFTER_CLOSE).map(lambda p: [*p[0], *p[1], ("close", 0, True), *p[2]])

# Two sequences every run tries first: a sale from deposit to payout, and a default, its
# forfeiture and the sale to the next bidder (with a deposit never paid, which lapses).
FULL_SALE = [("pay", 0, True), ("pay", 1, True), ("bid", 0, 1), ("bid", 1, 3), ("close", 0, True),
             ("contract", 0, True), ("balance", 0, False), ("balance", 0, True), ("deliver", 0, True),
             ("accept", 0, True), ("send_payouts", 0, True)]
DEFAULT_AND_NEXT_BIDDER = [
    ("pay_twice", 0, True), ("pay", 1, True), ("pay", 2, True), ("bid", 0, 1), ("bid", 1, 2), ("bid", 2, 5),
    ("close", 0, True), ("days_pass", 8, True), ("decide", 0, True), ("contract", 0, True), ("balance", 0, True),
    ("deliver", 0, True), ("days_pass", 8, True), ("send_payouts", 0, True)]
EVERY_STATE = {"awaiting_contract", "awaiting_balance", "awaiting_delivery", "delivered", "released", "forfeited",
               "deposit due", "deposit held", "deposit applied", "deposit released", "deposit lapsed",
               "deposit forfeited"}
# The random draws alone must get past the close: sales, defaults and their forfeitures.
DRAWN_REACH = {"awaiting_contract", "forfeited", "deposit held", "deposit applied", "deposit released",
               "deposit lapsed", "deposit forfeited"}

Step = tuple[str, int, bool]


def _at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@dataclass
class TradeModel:
    """A trade as the steps imply it; `applied` is the part of the buyer's deposit towards the price."""

    id: int
    round: int
    buyer: int
    price: int
    applied: int
    buyer_fee: int
    seller_fee: int
    status: str = "awaiting_contract"
    balance_paid: int = 0
    paid_out: int = 0  # what left the trade's escrow: price and fees at the release, the deposit at a forfeiture
    next_step: str | None = None

    @property
    def balance_due(self) -> int:
        return self.price - self.applied + self.buyer_fee

    def seen(self) -> tuple[Any, ...]:
        return (self.status, self.round, self.buyer, self.price, self.applied, self.buyer_fee, self.seller_fee,
                self.balance_due, self.next_step)


def _seen(trade: dict[str, Any]) -> tuple[Any, ...]:
    return (trade["status"], trade["round"], trade["buyer_id"], trade["price"], trade["deposit_applied"],
            trade["buyer_fee"], trade["seller_fee"], trade["balance_due"], trade["next_step"])


class Market:
    """One auction and the money its steps imply, kept apart from what the exchange records."""

    def __init__(self, services: Services, clock: FixedClock, operator: Account, seller: Account,
                 investors: list[Account], auction_id: int, deposits: dict[int, dict[str, Any]]) -> None:
        self.svc, self.clock, self.operator, self.seller = services, clock, operator, seller
        self.investors, self.auction_id, self.deposits = investors, auction_id, deposits
        self.rules = services.trades.rules
        self.status = {investor.id: "due" for investor in investors}  # each investor's deposit
        self.trades: dict[int, TradeModel] = {}
        self.paid_in: Counter[int] = Counter()  # received from each investor: deposits, balances
        self.held: Counter[int] = Counter()  # each investor's deposit on hold
        self.posted: Counter[int] = Counter()  # each winner's deposit taken off hold at the close
        self.returned: Counter[int] = Counter()  # the part of it above the price, back to the investor
        self.to_trades: Counter[int] = Counter()  # balances moved into trades' escrow
        self.payouts: list[list[Any]] = []  # [payee, purpose, amount, status]
        self.revenue = 0
        self.earned = 0  # the seller's: proceeds and shares of forfeited deposits

    # -- what the exchange records --------------------------------------------------------------

    async def seen_trades(self) -> dict[int, dict[str, Any]]:
        return {t["id"]: t for t in await self.svc.trades.trades(self.operator) if t["auction_id"] == self.auction_id}

    def current(self) -> TradeModel | None:
        return self.trades[max(self.trades)] if self.trades else None  # the next bidder's after a forfeiture

    # -- the money the steps imply ----------------------------------------------------------------

    def _payout(self, payee: int, purpose: str, amount: int) -> None:
        if amount:
            self.payouts.append([payee, purpose, amount, "to_send"])

    def _hold(self, investor: int) -> None:
        self.status[investor] = "held"
        self.paid_in[investor] += DEPOSIT
        self.held[investor] += DEPOSIT

    def _release_deposit(self, investor: int) -> None:
        self.status[investor] = "released"
        self.held[investor] -= DEPOSIT
        self._payout(investor, "refund", DEPOSIT)

    def _open(self, seen: dict[str, Any], round_: int, buyer: int, price: int, applied: int) -> None:
        self.trades[seen["id"]] = TradeModel(
            seen["id"], round_, buyer, price, applied,
            commission(price, self.rules.buyer_scale, self.rules.minimum_fee),
            commission(price, self.rules.seller_scale, self.rules.minimum_fee))

    def _release_price(self, trade: TradeModel) -> None:
        trade.status = "released"
        trade.paid_out = trade.applied + trade.balance_paid
        self.revenue += trade.buyer_fee + trade.seller_fee
        proceeds = trade.price - trade.seller_fee
        self.earned += proceeds
        self._payout(self.seller.id, "proceeds", proceeds)

    def _forfeit(self, trade: TradeModel) -> None:
        trade.status = "forfeited"
        trade.paid_out = trade.applied
        share = trade.applied * self.rules.forfeit_seller_share_bp // 10_000
        self.earned += share
        self._payout(self.seller.id, "forfeit_share", share)
        self.revenue += trade.applied - share
        if trade.applied:
            self.status[trade.buyer] = "forfeited"

    def books(self) -> dict[str, tuple[int, int, int, int]]:
        """Each ledger account as (debits pending, debits posted, credits pending, credits posted).
        An investor's account is credited with what the investor paid in and the part of its
        deposit above the price; it is debited, pending, by the deposit on hold, and, posted, by
        the deposit applied, the refunds queued and the balances paid into trades' escrow."""
        paid_out = Counter[int]()
        for payee, _, amount, _ in self.payouts:
            paid_out[payee] += amount
        expected = {
            f"investor:{i}:{CUR}": (self.held[i], self.posted[i] + paid_out[i] + self.to_trades[i], 0,
                                    self.paid_in[i] + self.returned[i])
            for i in self.status
        }
        expected[f"seller:{self.seller.id}:{CUR}"] = (0, paid_out[self.seller.id], 0, self.earned)
        expected[f"escrow:deposits:{CUR}"] = (0, self.posted.total(), self.held.total(), self.posted.total())
        for t in self.trades.values():
            expected[f"escrow:trade:{t.id}:{CUR}"] = (0, t.paid_out, 0, t.applied + t.balance_paid)
        expected[f"revenue:{CUR}"] = (0, 0, 0, self.revenue)
        expected[f"bank:{CUR}"] = (0, self.paid_in.total(), 0, paid_out.total())
        return {code: amounts for code, amounts in expected.items() if any(amounts)}

    def reached(self) -> set[str]:
        return {t.status for t in self.trades.values()} | {f"deposit {s}" for s in self.status.values()}

    # -- the steps ---------------------------------------------------------------------------------

    async def step(self, op: str, arg: int, flag: bool) -> None:
        svc, operator = self.svc, self.operator
        if op in ("pay", "pay_twice"):
            await self._pay(self.investors[arg].id, flag, 2 if op == "pay_twice" else 1)
        elif op == "bid":
            room = await svc.auctions.room(self.auction_id, self.investors[arg])
            minimum = room.get("minimum_bid") or 100_000
            try:
                await svc.auctions.submit_bid(self.investors[arg], self.auction_id, "bid", minimum + (flag - 1) * 1_000)
            except ExchangeError:
                pass  # not admitted, or closed: no money moves either way
        elif op == "close":
            await self._close()
        elif op == "days_pass":
            await self._days_pass(arg)
        elif op == "send_payouts":
            for payout in await svc.settlement.payouts(operator, status="to_send"):
                await svc.trades.mark_payout_sent(operator, payout["id"], PayoutSent(bank_ref=f"OUT-{payout['id']}"))
            for queued in self.payouts:
                queued[3] = "sent"
        else:
            await self._trade_step(op, flag)

    async def _pay(self, investor: int, flag: bool, times: int) -> None:
        deposit = self.deposits[investor]
        line = BankTransfer(reference_code=deposit["reference_code"], amount=DEPOSIT if flag else DEPOSIT + 1,
                            statement_ref=f"S-{deposit['reference_code']}")
        results = await asyncio.gather(
            *(self.svc.settlement.confirm_bank_transfer(self.operator, line) for _ in range(times)),
            return_exceptions=True)
        succeeded = [r for r in results if isinstance(r, dict)]
        # the right amount for a deposit still due is recorded once; every other confirmation is refused
        assert len(succeeded) == (1 if flag and self.status[investor] == "due" else 0), (self.status[investor], results)
        assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict)), results
        if succeeded:
            assert succeeded[0]["deposit"]["status"] == "held", succeeded
            self._hold(investor)

    async def _close(self) -> None:
        self.clock.advance(timedelta(hours=2))
        await self.svc.auctions.fire_due()
        async with self.svc.pool.acquire() as conn:
            auction = await conn.fetchrow("SELECT status, sold, winner_id, price FROM auctions WHERE id = $1",
                                          self.auction_id)
        assert auction is not None and auction["status"] == "closed"
        winner = auction["winner_id"] if auction["sold"] else None
        for investor, status in self.status.items():
            if investor == winner:
                assert status == "held", "a bidder was admitted without a deposit on hold"
                applied = min(DEPOSIT, auction["price"])
                self.status[investor] = "applied"
                self.held[investor] -= DEPOSIT
                self.posted[investor] += DEPOSIT
                self.returned[investor] += DEPOSIT - applied
                self._payout(investor, "refund", DEPOSIT - applied)
            elif status == "held":
                self._release_deposit(investor)
            elif status == "due":
                self.status[investor] = "lapsed"
        seen = await self.seen_trades()
        assert len(seen) == (winner is not None), seen
        if winner is not None:
            self._open(next(iter(seen.values())), 1, winner, auction["price"], min(DEPOSIT, auction["price"]))

    async def _days_pass(self, days: int) -> None:
        seen = await self.seen_trades()
        self.clock.advance(timedelta(days=days))
        await self.svc.auctions.fire_due()
        await self.svc.settlement.sweep()
        now = self.clock.now()
        for investor, status in self.status.items():
            if status == "due" and _at(self.deposits[investor]["due_at"]) < now:
                self.status[investor] = "lapsed"
        for trade in self.trades.values():
            dates = seen[trade.id]
            if ((trade.status == "awaiting_contract" and _at(dates["contract_due"]) < now)
                    or (trade.status == "awaiting_balance" and _at(dates["balance_due_at"]) < now)):
                self._forfeit(trade)
            elif trade.status == "delivered" and _at(dates["objection_due"]) < now:
                self._release_price(trade)

    async def _trade_step(self, op: str, flag: bool) -> None:
        trade = self.current()
        if trade is None:
            return
        buyer = next(i for i in self.investors if i.id == trade.buyer)
        seen = (await self.seen_trades())[trade.id]
        expect = {"contract": trade.status == "awaiting_contract",
                  "balance": flag and trade.status == "awaiting_balance",
                  "deliver": trade.status == "awaiting_delivery",
                  "accept": trade.status == "delivered",
                  "decide": trade.status == "forfeited" and trade.next_step is None}[op]
        try:
            if op == "contract":
                await self.svc.trades.confirm_contract(buyer, trade.id)
            elif op == "balance":  # the amount the steps imply, one minor unit short without `flag`
                await self.svc.settlement.confirm_bank_transfer(self.operator, BankTransfer(
                    reference_code=seen["reference_code"], amount=trade.balance_due - (0 if flag else 1),
                    statement_ref=f"S-{seen['reference_code']}"))
            elif op == "deliver":
                await self.svc.trades.record_delivery(self.seller, trade.id, Delivery(note="registered"))
            elif op == "accept":
                await self.svc.trades.accept_delivery(buyer, trade.id)
            elif op == "decide":
                await self.svc.trades.decide_after_forfeit(
                    self.operator, trade.id, ForfeitDecision(next_step="next_bidder" if flag else "relist"))
        except Conflict as refused:
            # refused exactly when the trade's state forbids the step (or nobody is left to offer the lot)
            assert not expect or (op == "decide" and flag and "no next bidder" in refused.detail), (op, refused)
            return
        assert expect, f"{op} (flag {flag}) was accepted on a trade that is {trade.status}"
        if op == "contract":
            trade.status = "awaiting_balance"
        elif op == "balance":
            trade.status = "awaiting_delivery"
            trade.balance_paid = trade.balance_due
            self.paid_in[trade.buyer] += trade.balance_due
            self.to_trades[trade.buyer] += trade.balance_due
        elif op == "deliver":
            trade.status = "delivered"
        elif op == "accept":
            self._release_price(trade)
        elif op == "decide":
            trade.next_step = "next_bidder" if flag else "relist"
            if flag:  # the runner-up's price is the auction's; no deposit of theirs is left to apply
                new = [t for i, t in (await self.seen_trades()).items() if i not in self.trades]
                assert len(new) == 1 and new[0]["buyer_id"] not in {t.buyer for t in self.trades.values()}, new
                self._open(new[0], trade.round + 1, new[0]["buyer_id"], new[0]["price"], 0)

    # -- after every step ------------------------------------------------------------------------

    async def compare(self, where: Step) -> None:
        deposits = await self.svc.settlement.deposits(self.operator, auction_id=self.auction_id)
        assert {d["investor_id"]: d["status"] for d in deposits} == self.status, where
        seen = await self.seen_trades()
        assert {i: _seen(t) for i, t in seen.items()} == {i: t.seen() for i, t in self.trades.items()}, where
        async with self.svc.pool.acquire() as conn:
            failures = await check(conn)
            accounts = await conn.fetch("SELECT code, debits_pending, debits_posted, credits_pending, credits_posted "
                                        "FROM ledger_accounts")
            payouts = await conn.fetch("SELECT payee_id, purpose, amount, status FROM payouts")
        assert failures == [], (where, failures)
        books = {a["code"]: (a["debits_pending"], a["debits_posted"], a["credits_pending"], a["credits_posted"])
                 for a in accounts if any(a[k] for k in ("debits_pending", "debits_posted", "credits_pending",
                                                         "credits_posted"))}
        assert books == self.books(), where
        assert sorted(map(list, payouts)) == sorted(self.payouts), where


async def _market(services: Services, clock: FixedClock) -> Market:
    async def account(role: str, name: str) -> Account:
        return await services.accounts.register(Registration(
            role=role, email=f"{name}@prop.test", password="correct horse battery", display_name=name),
            allow_operator=role == "operator")

    operator, seller = await account("operator", "op"), await account("institution", "tto")
    investors = [await account("investor", f"vc{i}") for i in range(4)]
    listing_id = await announced_listing(services, seller, operator, DEPOSIT)
    auction = await services.auctions.schedule(operator, listing_id, spec(clock.now()))
    deposits = {}
    for investor in investors:
        deposits[investor.id] = (await services.settlement.qualify(operator, auction["auction_id"], investor.id))["deposit"]
        assert deposits[investor.id]["amount"] == DEPOSIT
    clock.advance(timedelta(minutes=1))
    await services.auctions.fire_due()
    return Market(services, clock, operator, seller, investors, auction["auction_id"], deposits)


async def _run(pg_server: EmbeddedPostgres, template: str, redis_server: EmbeddedRedis, steps: list[Step]) -> set[str]:
    """Runs `steps` from an empty exchange; the states the deposits and trades reached."""
    name = f"settlement_prop_{next(_databases)}"
    admin = await asyncpg.connect(pg_server.url("postgres"))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        pool = await create_pool(pg_server.url(name), min_size=1, max_size=6)
        redis = aioredis.Redis.from_url(redis_server.url)
        await redis.flushall()
        clock = FixedClock(START)
        services = Services.build(pool, redis, clock, default_calendar(),
                                  PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1), auction_notice_days=0)
        await services.auctions.start()
        try:
            market = await _market(services, clock)
            reached = market.reached()
            for where in steps:
                await market.step(*where)
                await market.compare(where)
                reached |= market.reached()
            return reached
        finally:
            await services.auctions.stop()
            await redis.aclose()
            await pool.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def test_the_ledger_holds_exactly_what_every_step_of_any_sequence_implies(
    pg_server: EmbeddedPostgres, template_database: str, redis_server: EmbeddedRedis,
) -> None:
    """The property over the two sequences above and 25 drawn at random. So that it proves
    something, the sequences between them reach every state of a deposit and a trade, and the
    drawn ones alone get past the close to sales and forfeitures."""
    reached: dict[str, set[str]] = {"example": set(), "drawn": set()}

    @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=STEPS)
    @example(steps=FULL_SALE)
    @example(steps=DEFAULT_AND_NEXT_BIDDER)
    def any_sequence(steps: list[Step]) -> None:
        source = "example" if steps in (FULL_SALE, DEFAULT_AND_NEXT_BIDDER) else "drawn"
        reached[source].update(asyncio.run(_run(pg_server, template_database, redis_server, steps)))

    any_sequence()
    assert EVERY_STATE <= reached["example"] | reached["drawn"], EVERY_STATE - reached["example"] - reached["drawn"]
    assert DRAWN_REACH <= reached["drawn"], DRAWN_REACH - reached["drawn"]
