"""The ledger transfers of each settlement step, inside the caller's transaction.

Transfer ids are derived from what they settle (`deposit:12:hold`, `trade:7:proceeds`), so
a step repeated after a crash replays instead of moving money twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.errors import Conflict
from exchange.infra.db import Conn
from exchange.ledger import ledger
from exchange.ledger.ledger import Account
from exchange.settlement import repository as repo


def outside(provider: str, currency: str) -> Account:
    return ledger.card(currency) if provider == "stripe" else ledger.bank(currency)


async def receive(
    conn: Conn, *, provider: str, external_ref: str, purpose: str, payer_id: int, amount: int,
    currency: str, now: datetime, deposit_id: int | None = None, trade_id: int | None = None,
    confirmed_by: int | None = None,
) -> None:
    """Money reached the exchange for `payer_id`: recorded once per external reference."""
    transfer_id = f"payment:{provider}:{external_ref}"
    await ledger.transfer(conn, transfer_id, outside(provider, currency), ledger.investor(payer_id, currency),
                          amount, now, memo=f"{purpose} received, ref {external_ref}",
                          deposit_id=deposit_id, trade_id=trade_id)
    payment = await repo.insert_payment(conn, {
        "provider": provider, "external_ref": external_ref, "purpose": purpose, "payer_id": payer_id,
        "amount": amount, "currency": currency, "deposit_id": deposit_id, "trade_id": trade_id,
        "transfer_id": transfer_id, "confirmed_by": confirmed_by, "received_at": now,
    })
    if payment is None:
        raise Conflict(f"the payment {external_ref} was already recorded")


async def hold_deposit(conn: Conn, deposit: asyncpg.Record, now: datetime) -> None:
    cur = deposit["currency"].strip()
    await ledger.transfer(conn, f"deposit:{deposit['id']}:hold", ledger.investor(deposit["investor_id"], cur),
                          Account.deposits_held(cur), deposit["amount"], now, pending=True,
                          memo=f"deposit {deposit['reference_code']} held", deposit_id=deposit["id"])


async def pay_out(
    conn: Conn, *, payee: Account, payee_id: int, purpose: str, amount: int, provider: str,
    transfer_id: str, now: datetime, trade_id: int | None = None, deposit_id: int | None = None,
) -> int:
    """Money owed to a party leaves through the bank (an operator sends it) or the card processor."""
    await ledger.transfer(conn, transfer_id, payee, outside(provider, payee.currency), amount, now,
                          memo=f"{purpose} payout", trade_id=trade_id, deposit_id=deposit_id)
    return await repo.insert_payout(conn, {
        "payee_id": payee_id, "purpose": purpose, "amount": amount, "currency": payee.currency,
        "provider": provider, "trade_id": trade_id, "deposit_id": deposit_id,
        "transfer_id": transfer_id, "created_at": now,
    })


async def release_deposit(conn: Conn, deposit: asyncpg.Record, now: datetime) -> None:
    """The hold is voided and the money goes back the way it came."""
    cur, dep_id = deposit["currency"].strip(), deposit["id"]
    await ledger.void(conn, f"deposit:{dep_id}:release", f"deposit:{dep_id}:hold", now,
                      memo=f"deposit {deposit['reference_code']} released")
    provider = deposit["provider"] or "offline"
    await pay_out(conn, payee=ledger.investor(deposit["investor_id"], cur), payee_id=deposit["investor_id"],
                  purpose="refund", amount=deposit["amount"], provider=provider,
                  transfer_id=f"deposit:{dep_id}:refund", now=now, deposit_id=dep_id)
    changes: dict[str, Any] = {"status": "released", "resolved_at": now}
    if provider == "stripe":
        changes["card_action"] = "cancel"
    await repo.set_deposit(conn, dep_id, **changes)


async def apply_deposit(conn: Conn, deposit: asyncpg.Record, trade_id: int, price: int, now: datetime) -> int:
    """The winner's hold is posted into the trade's escrow; any part above the price is refunded.
    Returns the amount applied to the price."""
    cur, dep_id = deposit["currency"].strip(), deposit["id"]
    await ledger.post(conn, f"deposit:{dep_id}:apply", f"deposit:{dep_id}:hold", now,
                      memo=f"deposit {deposit['reference_code']} applied to the price")
    applied: int = min(deposit["amount"], price)
    await ledger.transfer(conn, f"trade:{trade_id}:deposit", Account.deposits_held(cur),
                          Account.trade_escrow(trade_id, cur), applied, now,
                          memo="deposit towards the price", trade_id=trade_id, deposit_id=dep_id)
    excess = deposit["amount"] - applied
    if excess:
        investor = ledger.investor(deposit["investor_id"], cur)
        await ledger.transfer(conn, f"deposit:{dep_id}:excess", Account.deposits_held(cur), investor, excess,
                              now, memo="deposit above the price returned", deposit_id=dep_id)
        await pay_out(conn, payee=investor, payee_id=deposit["investor_id"], purpose="refund", amount=excess,
                      provider=deposit["provider"] or "offline", transfer_id=f"deposit:{dep_id}:excess-refund",
                      now=now, deposit_id=dep_id, trade_id=trade_id)
    changes: dict[str, Any] = {"status": "applied", "resolved_at": now}
    if deposit["provider"] == "stripe":
        changes["card_action"] = "capture"
    await repo.set_deposit(conn, dep_id, **changes)
    return applied


def balance_due(trade: asyncpg.Record) -> int:
    """What the buyer still pays: the price less the deposit applied, plus the buyer's commission."""
    due: int = trade["price"] - trade["deposit_applied"] + trade["buyer_fee"]
    return due


async def pay_balance(conn: Conn, trade: asyncpg.Record, now: datetime) -> None:
    cur = trade["currency"].strip()
    await ledger.transfer(conn, f"trade:{trade['id']}:balance", ledger.investor(trade["buyer_id"], cur),
                          Account.trade_escrow(trade["id"], cur), balance_due(trade), now,
                          memo=f"balance of trade {trade['reference_code']}", trade_id=trade["id"])


async def release_price(conn: Conn, trade: asyncpg.Record, sources: dict[str, int], now: datetime) -> None:
    """The price less the seller's commission to the seller, both commissions to revenue, and the
    seller's payout queued from where the money sits: `sources` is what the trade's escrow
    received by provider (a card deposit and a bank balance are paid out by card and by bank)."""
    cur, trade_id = trade["currency"].strip(), trade["id"]
    escrow, seller = Account.trade_escrow(trade_id, cur), ledger.seller(trade["seller_id"], cur)
    proceeds = trade["price"] - trade["seller_fee"]
    fees = trade["seller_fee"] + trade["buyer_fee"]
    if fees:
        await ledger.transfer(conn, f"trade:{trade_id}:commission", escrow, ledger.revenue(cur), fees, now,
                              memo="commission, both sides", trade_id=trade_id)
    if not proceeds:  # a price no higher than the minimum fee leaves the seller nothing
        return
    await ledger.transfer(conn, f"trade:{trade_id}:proceeds", escrow, seller, proceeds, now,
                          memo="price less the seller's commission", trade_id=trade_id)
    left = proceeds
    for provider in ("stripe", "offline"):
        part = min(left, sources.get(provider, 0)) if provider == "stripe" else left
        if part:
            suffix = "" if provider == "offline" else "-card"
            await pay_out(conn, payee=seller, payee_id=trade["seller_id"], purpose="proceeds", amount=part,
                          provider=provider, transfer_id=f"trade:{trade_id}:payout{suffix}", now=now,
                          trade_id=trade_id)
            left -= part


async def forfeit(conn: Conn, trade: asyncpg.Record, seller_share_bp: int, deposit_provider: str,
                  now: datetime) -> None:
    """A defaulting winner's deposit is split between the seller and the exchange."""
    applied = trade["deposit_applied"]
    if not applied:
        return
    cur, trade_id = trade["currency"].strip(), trade["id"]
    escrow, seller = Account.trade_escrow(trade_id, cur), ledger.seller(trade["seller_id"], cur)
    to_seller = applied * seller_share_bp // 10_000
    if to_seller:
        await ledger.transfer(conn, f"trade:{trade_id}:forfeit-seller", escrow, seller, to_seller, now,
                              memo="seller's share of a forfeited deposit", trade_id=trade_id)
        await pay_out(conn, payee=seller, payee_id=trade["seller_id"], purpose="forfeit_share",
                      amount=to_seller, provider=deposit_provider, transfer_id=f"trade:{trade_id}:forfeit-payout",
                      now=now, trade_id=trade_id)
    if applied - to_seller:
        await ledger.transfer(conn, f"trade:{trade_id}:forfeit-exchange", escrow, ledger.revenue(cur),
                              applied - to_seller, now, memo="exchange's share of a forfeited deposit",
                              trade_id=trade_id)
    if trade["deposit_id"] is not None:
        await repo.set_deposit(conn, trade["deposit_id"], status="forfeited", resolved_at=now)


async def rescind(conn: Conn, trade: asyncpg.Record, deposit_provider: str, balance_provider: str,
                  now: datetime) -> None:
    """An objection upheld: everything in the trade's escrow goes back to the buyer, each part
    by the way it came (the deposit, then the balance)."""
    cur, trade_id, buyer_id = trade["currency"].strip(), trade["id"], trade["buyer_id"]
    buyer = ledger.investor(buyer_id, cur)
    parts = [("deposit", trade["deposit_applied"], deposit_provider), ("balance", balance_due(trade), balance_provider)]
    for name, amount, provider in parts:
        if not amount:
            continue
        await ledger.transfer(conn, f"trade:{trade_id}:rescind-{name}", Account.trade_escrow(trade_id, cur), buyer,
                              amount, now, memo=f"{name} returned: the sale was rescinded", trade_id=trade_id)
        await pay_out(conn, payee=buyer, payee_id=buyer_id, purpose="refund", amount=amount, provider=provider,
                      transfer_id=f"trade:{trade_id}:refund-{name}", now=now, trade_id=trade_id)
