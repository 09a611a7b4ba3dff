"""SQL of settlement: deposits, payments, trades, payouts, certificates, Stripe events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.infra.db import Conn, update_row

DEPOSIT = """d.id, d.auction_id, d.listing_id, d.investor_id, d.amount, d.currency, d.reference_code, d.status,
    d.provider, d.due_at, d.qualified_by, d.created_at, d.held_at, d.resolved_at, d.payment_intent,
    d.checkout_session, d.card_action, i.display_name AS investor_name, l.reference_no,
    ach.title, ach.title_en, l.seller_id,
    (SELECT p.status FROM payouts p WHERE p.deposit_id = d.id AND p.purpose = 'refund' ORDER BY p.id DESC LIMIT 1)
        AS refund_status,
    (SELECT p.sent_at FROM payouts p WHERE p.deposit_id = d.id AND p.purpose = 'refund' ORDER BY p.id DESC LIMIT 1)
        AS refund_sent_at"""
DEPOSIT_FROM = """deposits d JOIN accounts i ON i.id = d.investor_id LEFT JOIN auctions a ON a.id = d.auction_id
    JOIN listings l ON l.id = d.listing_id JOIN achievements ach ON ach.id = l.achievement_id"""

TRADE = """t.*, b.display_name AS buyer_name, s.display_name AS seller_name,
    COALESCE(l.reference_no, g.reference_no) AS reference_no,
    ach.title, ach.title_en, ach.appraised_value, c.number AS certificate_no"""
TRADE_FROM = """trades t JOIN accounts b ON b.id = t.buyer_id JOIN accounts s ON s.id = t.seller_id
    LEFT JOIN listings l ON l.id = t.listing_id LEFT JOIN agreements g ON g.id = t.agreement_id
    JOIN achievements ach ON ach.id = t.achievement_id
    LEFT JOIN certificates c ON c.trade_id = t.id"""


async def next_reference(conn: Conn, prefix: str, now: datetime) -> str:
    seq: int = await conn.fetchval("SELECT nextval('payment_reference_seq')")
    return f"{prefix}{now.year}{seq:07d}"


# -- deposits ----------------------------------------------------------------------------

async def insert_deposit(conn: Conn, values: dict[str, Any]) -> int | None:
    """The new deposit's id; None when the investor already has one for the auction (or, for a
    deposit of the listing itself, `auction_id` None, for the listing)."""
    found: int | None = await conn.fetchval(
        """INSERT INTO deposits (auction_id, listing_id, investor_id, amount, currency, reference_code,
               status, due_at, qualified_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'due', $7, $8, $9)
           ON CONFLICT DO NOTHING RETURNING id""",
        values.get("auction_id"), values["listing_id"], values["investor_id"], values["amount"],
        values["currency"], values["reference_code"], values["due_at"], values["qualified_by"],
        values["created_at"],
    )
    return found


async def deposit(conn: Conn, deposit_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF d" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {DEPOSIT} FROM {DEPOSIT_FROM} WHERE d.id = $1{lock}", deposit_id)
    return row


async def deposit_by(conn: Conn, column: str, value: Any, *, for_update: bool = False) -> asyncpg.Record | None:
    assert column in ("reference_code", "payment_intent", "checkout_session")
    lock = " FOR UPDATE OF d" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {DEPOSIT} FROM {DEPOSIT_FROM} WHERE d.{column} = $1{lock}", value)
    return row


async def deposit_of(conn: Conn, auction_id: int, investor_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {DEPOSIT} FROM {DEPOSIT_FROM} WHERE d.auction_id = $1 AND d.investor_id = $2",
        auction_id, investor_id)
    return row


async def deposits_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {DEPOSIT} FROM {DEPOSIT_FROM} WHERE {condition} ORDER BY d.id DESC LIMIT {int(limit)}", *args)
    return rows


async def set_deposit(conn: Conn, deposit_id: int, **values: Any) -> None:
    await update_row(conn, "deposits", {"id": deposit_id}, values)


# -- payments ----------------------------------------------------------------------------

async def insert_payment(conn: Conn, values: dict[str, Any]) -> int | None:
    """The payment's id; None when this external reference was already recorded."""
    found: int | None = await conn.fetchval(
        """INSERT INTO payments (provider, external_ref, purpose, payer_id, amount, currency,
               deposit_id, trade_id, transfer_id, confirmed_by, received_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (provider, external_ref) DO NOTHING RETURNING id""",
        values["provider"], values["external_ref"], values["purpose"], values["payer_id"],
        values["amount"], values["currency"], values.get("deposit_id"), values.get("trade_id"),
        values["transfer_id"], values.get("confirmed_by"), values["received_at"],
    )
    return found


async def payments_of(conn: Conn, payer_id: int, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM payments WHERE payer_id = $1 ORDER BY received_at DESC LIMIT $2", payer_id, limit)
    return rows


# -- trades ------------------------------------------------------------------------------

async def insert_trade(conn: Conn, values: dict[str, Any]) -> int | None:
    found: int | None = await conn.fetchval(
        """INSERT INTO trades (auction_id, round, listing_id, seller_id, buyer_id, price, currency,
               deposit_id, deposit_applied, buyer_fee, seller_fee, reference_code, status, created_at,
               contract_due, balance_due, method, achievement_id, agreement_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'awaiting_contract', $13, $14, $15,
                   $16, $17, $18)
           ON CONFLICT DO NOTHING RETURNING id""",
        values["auction_id"], values["round"], values["listing_id"], values["seller_id"],
        values["buyer_id"], values["price"], values["currency"], values["deposit_id"],
        values["deposit_applied"], values["buyer_fee"], values["seller_fee"], values["reference_code"],
        values["created_at"], values["contract_due"], values["balance_due"], values["method"],
        values["achievement_id"], values["agreement_id"],
    )
    return found


async def trade(conn: Conn, trade_id: int, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF t" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(f"SELECT {TRADE} FROM {TRADE_FROM} WHERE t.id = $1{lock}", trade_id)
    return row


async def trade_by_reference(conn: Conn, reference: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF t" if for_update else ""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {TRADE} FROM {TRADE_FROM} WHERE t.reference_code = $1{lock}", reference)
    return row


async def trades_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {TRADE} FROM {TRADE_FROM} WHERE {condition} ORDER BY t.id DESC LIMIT {int(limit)}", *args)
    return rows


async def set_trade(conn: Conn, trade_id: int, **values: Any) -> None:
    await update_row(conn, "trades", {"id": trade_id}, values)


async def closed_without_trade(conn: Conn) -> list[int]:
    """Closed auctions whose deposits, sale or failure notice the settlement has not taken up yet."""
    rows = await conn.fetch(
        """SELECT a.id FROM auctions a WHERE a.status = 'closed'
             AND ((a.sold AND NOT EXISTS (SELECT 1 FROM trades t WHERE t.auction_id = a.id))
                  OR (NOT a.sold AND NOT EXISTS (SELECT 1 FROM disclosures n WHERE n.kind = 'auction_failed'
                                                 AND n.subject = 'AUCTION-' || a.id))
                  OR EXISTS (SELECT 1 FROM deposits d WHERE d.auction_id = a.id AND d.status IN ('held', 'due')))
           ORDER BY a.id LIMIT 500""")
    return [row["id"] for row in rows]


async def runner_up(conn: Conn, auction_id: int, winner_id: int) -> tuple[int, int] | None:
    """The next bidder: (account, price) of the highest standing bid not led by the winner."""
    row = await conn.fetchrow(
        """SELECT (payload->>'leader')::bigint AS bidder, max((payload->>'price')::bigint) AS price
           FROM auction_events WHERE auction_id = $1 AND kind = 'bid' AND payload->>'leader' <> $2
           GROUP BY 1 ORDER BY 2 DESC LIMIT 1""", auction_id, str(winner_id))
    return None if row is None else (row["bidder"], row["price"])


async def next_bidder(conn: Conn, trade: asyncpg.Record) -> tuple[int, int] | None:
    """Who is offered a forfeited lot, at what price: the auction's runner-up at their last
    standing bid, or the next-ranked quote at its price; None when there is nobody (left)."""
    if trade["auction_id"] is not None:
        previous = await conn.fetch("SELECT buyer_id FROM trades WHERE auction_id = $1", trade["auction_id"])
        runner = await runner_up(conn, trade["auction_id"], trade["buyer_id"])
        return None if runner is None or runner[0] in {r["buyer_id"] for r in previous} else runner
    if trade["method"] in ("sealed_quote", "weighted_quote"):
        row = await conn.fetchrow(
            """SELECT p.investor_id, p.price FROM quote_proposals p JOIN quote_rounds r ON r.id = p.round_id
               WHERE r.listing_id = $1 AND p.rank IS NOT NULL
                 AND p.investor_id NOT IN (SELECT buyer_id FROM trades WHERE listing_id = $1)
               ORDER BY p.rank LIMIT 1""", trade["listing_id"])
        return None if row is None else (row["investor_id"], row["price"])
    return None


# -- payouts and certificates ------------------------------------------------------------

async def insert_payout(conn: Conn, values: dict[str, Any]) -> int:
    found: int = await conn.fetchval(
        """INSERT INTO payouts (payee_id, purpose, amount, currency, provider, status, trade_id,
               deposit_id, transfer_id, external_ref, created_at, sent_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
        values["payee_id"], values["purpose"], values["amount"], values["currency"], values["provider"],
        values.get("status", "to_send"), values.get("trade_id"), values.get("deposit_id"),
        values["transfer_id"], values.get("external_ref"), values["created_at"], values.get("sent_at"),
    )
    return found


async def payouts_where(conn: Conn, condition: str, *args: Any, limit: int = 200) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT p.*, a.display_name AS payee_name FROM payouts p JOIN accounts a ON a.id = p.payee_id
            WHERE {condition} ORDER BY p.id DESC LIMIT {int(limit)}""", *args)
    return rows


async def payout_account(conn: Conn, account_id: int) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT stripe_account FROM payout_accounts WHERE account_id = $1", account_id)
    return found


async def insert_certificate(conn: Conn, number: str, trade_id: int, issued_at: datetime,
                             body: dict[str, Any], digest: str) -> None:
    await conn.execute(
        "INSERT INTO certificates (number, trade_id, issued_at, body, digest) VALUES ($1, $2, $3, $4, $5)",
        number, trade_id, issued_at, body, digest)


async def certificate(conn: Conn, number: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow("SELECT * FROM certificates WHERE number = $1", number)
    return row


async def record_card_payment(conn: Conn, state: Any, purpose: str, reference: str, now: datetime) -> None:
    """A captured card payment, as the card processor reported it (once per payment)."""
    await conn.execute(
        """INSERT INTO card_payments (intent_id, purpose, reference, amount, currency, seen_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (intent_id) DO NOTHING""",
        state.id, purpose, reference, state.amount_received, state.currency, now)


async def payment_recorded(conn: Conn, provider: str, external_ref: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM payments WHERE provider = $1 AND external_ref = $2)", provider, external_ref)
    return found


async def record_event(conn: Conn, event_id: str, event_type: str, now: datetime) -> bool:
    """True the first time an event id is seen."""
    found = await conn.fetchval(
        "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id",
        event_id, event_type, now)
    return found is not None
