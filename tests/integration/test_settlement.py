"""Escrow and settlement on real PostgreSQL: deposits, the close, the trade, release, certificate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from exchange.clock import FixedClock
from exchange.errors import Conflict, Forbidden, NotFound, ValidationFailed
from exchange.ledger import ledger
from exchange.ledger.check import INVARIANTS, check
from exchange.services import Services
from exchange.settlement.types import (
    BankTransfer,
    Delivery,
    ForfeitDecision,
    Objection,
    PayoutSent,
    Ruling,
    commission,
)
from tests.integration.settlement_flow import (
    DEPOSIT,
    Sale,
    bid,
    open_and_close,
    pay_by_bank,
    qualified_auction,
)


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[Services]:
    await services.auctions.start()
    yield services
    await services.auctions.stop()


async def _invariants_hold(services: Services) -> None:
    async with services.pool.acquire() as conn:
        failures = await check(conn)
    assert failures == [], failures


async def _balance(services: Services, code: str) -> tuple[int, int, int, int]:
    async with services.pool.acquire() as conn:
        found = await ledger.balance(conn, code)
    assert found is not None, code
    return found.debits_pending, found.debits_posted, found.credits_pending, found.credits_posted


async def test_investor_cannot_bid_until_the_deposit_is_held(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock)
    a = sale.parties.investors[0]
    assert sale.deposits[a.id]["status"] == "due" and sale.deposits[a.id]["amount"] == DEPOSIT
    clock.advance(timedelta(minutes=1))
    await engine.auctions.fire_due()
    with pytest.raises(Forbidden):
        await bid(engine, sale, 0, 100_000)
    held = await pay_by_bank(engine, sale, a.id)
    assert held["deposit"]["status"] == "held"
    assert (await bid(engine, sale, 0, 100_000))["status"] == "accepted"
    assert await _balance(engine, f"investor:{a.id}:CNY") == (DEPOSIT, 0, 0, DEPOSIT)
    await _invariants_hold(engine)


async def test_a_bank_line_with_the_wrong_amount_or_reference_changes_nothing(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock)
    deposit = sale.deposits[sale.parties.investors[0].id]
    operator = sale.parties.operator
    with pytest.raises(Conflict, match="nothing was recorded"):
        await engine.settlement.confirm_bank_transfer(operator, BankTransfer(
            reference_code=deposit["reference_code"], amount=DEPOSIT - 1, statement_ref="S1"))
    with pytest.raises(NotFound):
        await engine.settlement.confirm_bank_transfer(operator, BankTransfer(
            reference_code="D20269999999", amount=DEPOSIT, statement_ref="S1"))
    with pytest.raises(ValidationFailed) as bad:
        await engine.settlement.confirm_bank_transfer(operator, BankTransfer(
            reference_code="", amount=-5, statement_ref=""))
    assert set(bad.value.field_errors) == {"reference_code", "amount", "statement_ref"}
    with pytest.raises(Forbidden):
        await engine.settlement.confirm_bank_transfer(sale.parties.investors[0], BankTransfer(
            reference_code=deposit["reference_code"], amount=DEPOSIT, statement_ref="S1"))
    async with engine.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM ledger_transfers") == 0
        assert await conn.fetchval("SELECT count(*) FROM payments") == 0
    assert (await engine.settlement.deposit(operator, deposit["id"]))["status"] == "due"


async def test_two_operators_confirming_the_same_transfer_have_one_effect(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock)
    a = sale.parties.investors[0]
    results = await asyncio.gather(
        pay_by_bank(engine, sale, a.id, "STMT-1"), pay_by_bank(engine, sale, a.id, "STMT-1"),
        pay_by_bank(engine, sale, a.id, "STMT-2"), return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, dict)) == 1
    assert all(isinstance(r, (Conflict, dict)) for r in results), results
    assert await _balance(engine, "bank:CNY") == (0, DEPOSIT, 0, 0)
    await _invariants_hold(engine)


async def test_a_deposit_not_paid_in_three_working_days_lapses(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock)
    deposit = sale.deposits[sale.parties.investors[0].id]
    clock.set(deposit_due(deposit) + timedelta(seconds=1))
    swept = await engine.settlement.sweep()
    assert swept["lapsed"] == 3
    with pytest.raises(Conflict, match="lapsed"):
        await pay_by_bank(engine, sale, sale.parties.investors[0].id)


def deposit_due(deposit: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(deposit["due_at"]))


PRICE = 10_000_000  # 100,000 yuan


async def _full_trade(engine: Services, clock: FixedClock) -> tuple[Sale, dict[str, object]]:
    sale = await qualified_auction(engine, clock)
    a, b, c = sale.parties.investors
    for investor in (a, b, c):
        await pay_by_bank(engine, sale, investor.id)
    await open_and_close(engine, clock, sale, [(0, 5_000_000), (1, 8_000_000), (0, PRICE)])
    trades = await engine.trades.trades(sale.parties.operator)
    assert len(trades) == 1
    return sale, trades[0]


async def test_at_the_close_the_winner_deposit_goes_to_the_price_and_the_others_are_released(
    engine: Services, clock: FixedClock,
) -> None:
    sale, trade = await _full_trade(engine, clock)
    a, b, c = sale.parties.investors
    assert trade["buyer_id"] == a.id and trade["price"] == PRICE and trade["deposit_applied"] == DEPOSIT
    deposits = {d["investor_id"]: d for d in await engine.settlement.deposits(sale.parties.operator)}
    assert deposits[a.id]["status"] == "applied"
    assert deposits[b.id]["status"] == deposits[c.id]["status"] == "released"
    refunds = await engine.settlement.payouts(sale.parties.operator, status="to_send")
    assert sorted((p["payee_id"], p["amount"]) for p in refunds) == sorted([(b.id, DEPOSIT), (c.id, DEPOSIT)])
    assert await _balance(engine, f"investor:{b.id}:CNY") == (0, DEPOSIT, 0, DEPOSIT)
    await _invariants_hold(engine)


async def test_a_full_trade_from_deposit_to_certificate(engine: Services, clock: FixedClock) -> None:
    sale, trade = await _full_trade(engine, clock)
    buyer, seller, operator = sale.parties.investors[0], sale.parties.seller, sale.parties.operator
    trade_id = int(str(trade["id"]))
    with pytest.raises(NotFound):
        await engine.trades.confirm_contract(sale.parties.investors[1], trade_id)
    await engine.trades.confirm_contract(buyer, trade_id)
    fee = commission(PRICE, engine.trades.rules.buyer_scale, engine.trades.rules.minimum_fee)
    assert fee == 300_000  # 1.5% of 100,000 yuan is below the minimum fee of 3,000 yuan
    due = PRICE - DEPOSIT + fee
    current = await engine.trades.trade(buyer, trade_id)
    assert current["status"] == "awaiting_balance" and current["balance_due"] == due
    with pytest.raises(Conflict, match="awaiting balance"):
        await engine.trades.record_delivery(seller, trade_id, Delivery(note="ZL2023 assignment registered"))
    await engine.settlement.confirm_bank_transfer(operator, BankTransfer(
        reference_code=str(trade["reference_code"]), amount=due, statement_ref="STMT-BAL"))
    await engine.trades.record_delivery(seller, trade_id, Delivery(note="CNIPA assignment registered 2026-11-30"))
    with pytest.raises(NotFound):
        await engine.trades.accept_delivery(sale.parties.investors[1], trade_id)
    released = await engine.trades.accept_delivery(buyer, trade_id)
    assert released["status"] == "released" and released["certificate_no"]
    seller_fee = released["seller_fee"]
    proceeds = [p for p in await engine.settlement.payouts(seller) if p["purpose"] == "proceeds"]
    assert [p["amount"] for p in proceeds] == [PRICE - seller_fee]
    assert await _balance(engine, "revenue:CNY") == (0, 0, 0, seller_fee + fee)
    certificate = await engine.trades.certificate(str(released["certificate_no"]))
    assert certificate["digest_valid"] and certificate["body"]["price"] == PRICE
    assert certificate["body"]["parties"] == {"seller": seller.display_name, "buyer": buyer.display_name}
    sent = await engine.trades.mark_payout_sent(operator, proceeds[0]["id"], PayoutSent(bank_ref="BANK-OUT-1"))
    assert sent["status"] == "sent"
    with pytest.raises(Conflict):
        await engine.trades.mark_payout_sent(operator, proceeds[0]["id"], PayoutSent(bank_ref="BANK-OUT-2"))
    await _invariants_hold(engine)


async def _delivered(engine: Services, clock: FixedClock) -> tuple[Sale, int]:
    sale, trade = await _full_trade(engine, clock)
    trade_id = int(str(trade["id"]))
    await engine.trades.confirm_contract(sale.parties.investors[0], trade_id)
    current = await engine.trades.trade(sale.parties.operator, trade_id)
    await engine.settlement.confirm_bank_transfer(sale.parties.operator, BankTransfer(
        reference_code=str(trade["reference_code"]), amount=current["balance_due"], statement_ref="STMT-BAL"))
    await engine.trades.record_delivery(sale.parties.seller, trade_id, Delivery(note="registered"))
    return sale, trade_id


async def test_the_delivery_is_released_when_the_objection_window_lapses(engine: Services, clock: FixedClock) -> None:
    sale, trade_id = await _delivered(engine, clock)
    delivered = await engine.trades.trade(sale.parties.operator, trade_id)
    assert (await engine.settlement.sweep())["released"] == 0
    clock.set(deposit_due({"due_at": delivered["objection_due"]}) + timedelta(seconds=1))
    assert (await engine.settlement.sweep())["released"] == 1
    assert (await engine.trades.trade(sale.parties.seller, trade_id))["status"] == "released"
    await _invariants_hold(engine)


async def test_a_winner_who_does_not_confirm_forfeits_and_the_lot_goes_to_the_next_bidder(
    engine: Services, clock: FixedClock,
) -> None:
    sale, trade = await _full_trade(engine, clock)
    b = sale.parties.investors[1]
    clock.set(deposit_due({"due_at": trade["contract_due"]}) + timedelta(seconds=1))
    assert (await engine.settlement.sweep())["forfeited"] == 1
    trade_id = int(str(trade["id"]))
    forfeited = await engine.trades.trade(sale.parties.operator, trade_id)
    assert forfeited["status"] == "forfeited" and "contract" in forfeited["forfeit_reason"]
    share = DEPOSIT * engine.trades.rules.forfeit_seller_share_bp // 10_000
    assert await _balance(engine, f"seller:{sale.parties.seller.id}:CNY") == (0, share, 0, share)
    with pytest.raises(Forbidden):
        await engine.trades.decide_after_forfeit(sale.parties.seller, trade_id, ForfeitDecision(next_step="relist"))
    await engine.trades.decide_after_forfeit(sale.parties.operator, trade_id, ForfeitDecision(next_step="next_bidder"))
    with pytest.raises(Conflict, match="already decided"):
        await engine.trades.decide_after_forfeit(sale.parties.operator, trade_id, ForfeitDecision(next_step="relist"))
    second = [t for t in await engine.trades.trades(b) if t["buyer_id"] == b.id]
    assert len(second) == 1 and second[0]["price"] == 8_000_000 and second[0]["round"] == 2
    assert second[0]["deposit_applied"] == 0
    await _invariants_hold(engine)


async def test_a_forfeited_and_relisted_lot_can_be_auctioned_again(engine: Services, clock: FixedClock) -> None:
    sale, trade = await _full_trade(engine, clock)
    trade_id = int(str(trade["id"]))
    await engine.trades.confirm_contract(sale.parties.investors[0], trade_id)
    clock.set(deposit_due({"due_at": trade["balance_due_at"]}) + timedelta(seconds=1))
    await engine.settlement.sweep()
    from tests.integration.conftest_auctions import spec
    with pytest.raises(Conflict, match="already been sold"):
        await engine.auctions.schedule(sale.parties.operator, sale.parties.listing_id, spec(clock.now()))
    await engine.trades.decide_after_forfeit(sale.parties.operator, trade_id, ForfeitDecision(next_step="relist"))
    again = await engine.auctions.schedule(sale.parties.operator, sale.parties.listing_id, spec(clock.now()))
    assert again["status"] == "scheduled"
    await _invariants_hold(engine)


async def test_a_close_the_settlement_missed_is_completed_by_the_sweep(engine: Services, clock: FixedClock) -> None:
    """As after a crash between the close and its settlement: the next pass settles it, once."""
    sale = await qualified_auction(engine, clock, investors=2)
    for investor in sale.parties.investors:
        await pay_by_bank(engine, sale, investor.id)
    listeners = list(engine.auctions.on_closed)
    engine.auctions.on_closed.clear()
    try:
        await open_and_close(engine, clock, sale, [(0, 100_000), (1, 150_000)])
    finally:
        engine.auctions.on_closed.extend(listeners)
    assert await engine.trades.trades(sale.parties.operator) == []
    assert (await engine.settlement.sweep())["settled"] == 1
    assert (await engine.settlement.sweep())["settled"] == 0
    await engine.settlement.settle_auction(sale.auction_id)  # a repeated close changes nothing
    trades = await engine.trades.trades(sale.parties.operator)
    assert [(t["buyer_id"], t["price"]) for t in trades] == [(sale.parties.investors[1].id, 150_000)]
    await _invariants_hold(engine)


async def test_a_held_deposit_not_yet_admitted_is_admitted_by_the_sweep(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    a = sale.parties.investors[0]
    deposit = sale.deposits[a.id]
    async with engine.pool.acquire() as conn, conn.transaction():  # the commit happened, the admission did not
        from exchange.settlement import moves
        from exchange.settlement import repository as repo
        row = await repo.deposit(conn, deposit["id"], for_update=True)
        assert row is not None
        await moves.receive(conn, provider="offline", external_ref="S-CRASH", purpose="deposit", payer_id=a.id,
                            amount=DEPOSIT, currency="CNY", now=clock.now(), deposit_id=deposit["id"])
        await moves.hold_deposit(conn, row, clock.now())
        await repo.set_deposit(conn, deposit["id"], status="held", provider="offline", held_at=clock.now())
    assert (await engine.auctions.room(sale.auction_id, a)).get("your_code") is None
    assert (await engine.settlement.sweep())["admitted"] == 1
    assert [b["account_id"] for b in await engine.auctions.bidders(sale.parties.operator, sale.auction_id)] == [a.id]


async def test_nobody_sees_another_party_payments(engine: Services, clock: FixedClock) -> None:
    sale, trade = await _full_trade(engine, clock)
    a, b, _ = sale.parties.investors
    deposit_of_a = sale.deposits[a.id]["id"]
    with pytest.raises(NotFound):
        await engine.settlement.deposit(b, deposit_of_a)
    assert {d["investor_id"] for d in await engine.settlement.deposits(b)} == {b.id}
    assert [p["deposit_id"] for p in await engine.settlement.payments(b)] == [sale.deposits[b.id]["id"]]
    assert all(line["debit"].find(f":{a.id}:") < 0 and line["credit"].find(f":{a.id}:") < 0
               for line in await engine.settlement.ledger_lines(b))
    with pytest.raises(NotFound):
        await engine.trades.trade(b, int(str(trade["id"])))
    seller_view = await engine.trades.trade(sale.parties.seller, int(str(trade["id"])))
    assert all(f":{a.id}:" not in line["debit"] + line["credit"] for line in seller_view["ledger"])
    with pytest.raises(Forbidden):
        await engine.settlement.deposits(sale.parties.seller)


async def test_ledger_lines_cannot_be_changed_and_tampered_balances_are_named(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    await pay_by_bank(engine, sale, sale.parties.investors[0].id)
    async with engine.pool.acquire() as conn:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await conn.execute("UPDATE ledger_transfers SET amount = 1")
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
            await conn.execute("DELETE FROM ledger_transfers")
        await conn.execute("UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE code = 'bank:CNY'")
        failures = await check(conn)
    names = {f.invariant for f in failures}
    assert "entries sum to zero per currency" in names
    assert "account balances equal the sum of their transfers" in names
    entries = [e for f in failures for e in f.entries]
    assert any(e.get("code") == "bank:CNY" for e in entries)


async def test_exchange_ledger_check_exits_non_zero_naming_the_offending_entries(
    engine: Services, clock: FixedClock, database_url: str, redis_url: str, tmp_path: object,
) -> None:
    import os
    import sys

    sale, _ = await _full_trade(engine, clock)
    env = os.environ | {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "EXCHANGE_VAR_DIR": str(tmp_path)}

    async def run() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "ledger", "check", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode()

    code, out = await run()
    assert code == 0, out
    assert f"{len(INVARIANTS)} of {len(INVARIANTS)} ledger invariants hold" in out
    deposit = sale.deposits[sale.parties.investors[1].id]
    async with engine.pool.acquire() as conn:  # a hand edit: a released deposit marked held again
        await conn.execute("UPDATE deposits SET status = 'held' WHERE id = $1", deposit["id"])
    code, out = await run()
    assert code == 1
    assert "FAILED: each deposit's hold matches its status" in out and deposit["reference_code"] in out


async def test_an_objection_pauses_the_release_until_the_operator_rules(engine: Services, clock: FixedClock) -> None:
    sale, trade_id = await _delivered(engine, clock)
    buyer, operator = sale.parties.investors[0], sale.parties.operator
    with pytest.raises(Conflict, match="not objected"):
        await engine.trades.rule_on_objection(operator, trade_id, Ruling(outcome="release", reasons="x"))
    objected = await engine.trades.object_to_delivery(buyer, trade_id, Objection(reason="the assignment names another patent"))
    assert objected["objected_at"] is not None
    clock.set(deposit_due({"due_at": objected["objection_due"]}) + timedelta(days=1))
    assert (await engine.settlement.sweep())["released"] == 0  # the window lapsed, but the objection holds it
    with pytest.raises(Forbidden):
        await engine.trades.rule_on_objection(sale.parties.seller, trade_id, Ruling(outcome="release", reasons="x"))
    ruled = await engine.trades.rule_on_objection(operator, trade_id, Ruling(
        outcome="release", reasons="the registration certificate names ZL2023; the objection is dismissed"))
    assert ruled["status"] == "released" and ruled["objection_outcome"] == "release" and ruled["certificate_no"]
    await _invariants_hold(engine)


async def test_an_upheld_objection_rescinds_the_sale_and_refunds_the_buyer(engine: Services, clock: FixedClock) -> None:
    sale, trade_id = await _delivered(engine, clock)
    buyer = sale.parties.investors[0]
    with pytest.raises(ValidationFailed):
        await engine.trades.object_to_delivery(buyer, trade_id, Objection(reason="  "))
    await engine.trades.object_to_delivery(buyer, trade_id, Objection(reason="not delivered"))
    with pytest.raises(Conflict, match="already objected"):
        await engine.trades.object_to_delivery(buyer, trade_id, Objection(reason="again"))
    ruled = await engine.trades.rule_on_objection(sale.parties.operator, trade_id, Ruling(
        outcome="rescind", reasons="no assignment was registered"))
    assert ruled["status"] == "rescinded" and ruled["certificate_no"] is None
    refunds = [p for p in await engine.settlement.payouts(buyer) if p["trade_id"] == trade_id]
    assert sum(p["amount"] for p in refunds) == PRICE + ruled["buyer_fee"]
    async with engine.pool.acquire() as conn:
        assert await ledger.balance(conn, f"seller:{sale.parties.seller.id}:CNY") is None  # the seller got nothing
    await _invariants_hold(engine)


def test_settlement_rules_come_from_the_exchange_settings() -> None:
    from exchange.settlement.types import FeeBand, SettlementRules

    rules = SettlementRules.from_env({"EXCHANGE_DEPOSIT_WD": "4", "EXCHANGE_COMMISSION_SCALE": "0:200,100000000:100",
                                      "EXCHANGE_FORFEIT_SELLER_SHARE_BP": "7000"})
    assert (rules.deposit_wd, rules.forfeit_seller_share_bp) == (4, 7000)
    assert rules.buyer_scale == rules.seller_scale == (FeeBand(0, 200), FeeBand(100_000_000, 100))
    for bad in ({"EXCHANGE_DEPOSIT_WD": "0"}, {"EXCHANGE_FORFEIT_SELLER_SHARE_BP": "10001"},
                {"EXCHANGE_COMMISSION_SCALE": "5:100"}, {"EXCHANGE_COMMISSION_SCALE": "0:100,x"}):
        with pytest.raises(SystemExit):
            SettlementRules.from_env(bad)


async def test_an_unsold_close_the_settlement_missed_is_published_by_the_sweep(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    listeners = list(engine.auctions.on_closed)
    engine.auctions.on_closed.clear()
    try:
        await open_and_close(engine, clock, sale, [])
    finally:
        engine.auctions.on_closed.extend(listeners)
    assert (await engine.settlement.sweep())["settled"] == 1
    assert (await engine.settlement.sweep())["settled"] == 0
    async with engine.pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM disclosures WHERE kind = 'auction_failed' AND subject = $1",
            f"AUCTION-{sale.auction_id}") == 1


async def test_a_close_settled_twice_at_once_refunds_each_loser_and_applies_the_winner_deposit_once(
    engine: Services, clock: FixedClock,
) -> None:
    """The close's settlement run twice at once, with the sweep, then again: one deposit hold is
    released (the losers') or applied to the price (the winner's) once, and paid back once."""
    sale = await qualified_auction(engine, clock, investors=3)
    a, b, c = sale.parties.investors
    for investor in (a, b, c):
        await pay_by_bank(engine, sale, investor.id)
    listeners = list(engine.auctions.on_closed)
    engine.auctions.on_closed.clear()  # closed, not yet settled
    try:
        await open_and_close(engine, clock, sale, [(0, 100_000), (1, 150_000)])
    finally:
        engine.auctions.on_closed.extend(listeners)
    price, excess = 150_000, DEPOSIT - 150_000  # b wins; c paid and never bid
    settle = engine.settlement.settle_auction
    results = await asyncio.gather(settle(sale.auction_id), settle(sale.auction_id), engine.settlement.sweep(),
                                   return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)], results
    await settle(sale.auction_id)
    await engine.settlement.sweep()

    deposits = {d["investor_id"]: d for d in await engine.settlement.deposits(sale.parties.operator)}
    assert {i: d["status"] for i, d in deposits.items()} == {a.id: "released", b.id: "applied", c.id: "released"}
    trades = await engine.trades.trades(sale.parties.operator)
    assert [(t["buyer_id"], t["price"], t["deposit_applied"]) for t in trades] == [(b.id, price, price)]
    refunds = await engine.settlement.payouts(sale.parties.operator)
    assert sorted((p["payee_id"], p["purpose"], p["amount"]) for p in refunds) == sorted(
        [(a.id, "refund", DEPOSIT), (c.id, "refund", DEPOSIT), (b.id, "refund", excess)])
    # (debits pending, debits posted, credits pending, credits posted)
    for loser in (a, c):  # paid in, the hold voided, paid back
        assert await _balance(engine, f"investor:{loser.id}:CNY") == (0, DEPOSIT, 0, DEPOSIT)
    # paid in and the part above the price returned; the hold posted and that part paid back
    assert await _balance(engine, f"investor:{b.id}:CNY") == (0, DEPOSIT + excess, 0, DEPOSIT + excess)
    assert await _balance(engine, "escrow:deposits:CNY") == (0, DEPOSIT, 0, DEPOSIT)
    assert await _balance(engine, f"escrow:trade:{trades[0]['id']}:CNY") == (0, 0, 0, price)
    assert await _balance(engine, "bank:CNY") == (0, 3 * DEPOSIT, 0, 2 * DEPOSIT + excess)
    async with engine.pool.acquire() as conn:
        resolutions = await conn.fetch(
            "SELECT pending_id, flow FROM ledger_transfers WHERE pending_id IS NOT NULL ORDER BY pending_id")
    holds = {i: f"deposit:{deposits[i]['id']}:hold" for i in deposits}
    assert sorted((r["pending_id"], r["flow"]) for r in resolutions) == sorted(
        [(holds[a.id], "void_pending"), (holds[b.id], "post_pending"), (holds[c.id], "void_pending")])
    await _invariants_hold(engine)
