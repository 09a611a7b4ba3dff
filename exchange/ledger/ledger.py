"""Transfers between ledger accounts, inside the caller's transaction.

Every transfer has a client-chosen id: a replay with the same fields returns the first
transfer and moves nothing; the same id with other fields is refused. A pending transfer
is a hold; it is resolved once, by a `post` or a `void`. Balances move in the same
transaction, and an account's limit is a CHECK in the database.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from exchange.errors import Conflict, NotFound
from exchange.infra.db import Conn
from exchange.ledger.types import LIABILITIES, AccountKind, Balance, Flow, Transfer

MAX_MEMO = 200

_TRANSFER = """SELECT t.id, t.flow, d.code AS debit_account, c.code AS credit_account, t.amount,
    t.currency, t.pending_id, t.memo, t.deposit_id, t.trade_id, t.created_at
    FROM ledger_transfers t JOIN ledger_accounts d ON d.id = t.debit_account_id
    JOIN ledger_accounts c ON c.id = t.credit_account_id"""


class Account(msgspec.Struct, frozen=True):
    """Where money sits: a code with the kind, currency and owner the account is opened with."""

    code: str
    kind: AccountKind
    currency: str
    owner_id: int | None = None

    @classmethod
    def of(cls, kind: AccountKind, currency: str, owner_id: int | None = None) -> Account:
        code = f"{kind.value}:{currency}" if owner_id is None else f"{kind.value}:{owner_id}:{currency}"
        return cls(code, kind, currency, owner_id)

    @classmethod
    def trade_escrow(cls, trade_id: int, currency: str) -> Account:
        return cls(f"escrow:trade:{trade_id}:{currency}", AccountKind.ESCROW, currency)

    @classmethod
    def deposits_held(cls, currency: str) -> Account:
        return cls(f"escrow:deposits:{currency}", AccountKind.ESCROW, currency)


def bank(currency: str) -> Account:
    return Account.of(AccountKind.BANK, currency)


def card(currency: str) -> Account:
    return Account.of(AccountKind.CARD, currency)


def investor(account_id: int, currency: str) -> Account:
    return Account.of(AccountKind.INVESTOR, currency, account_id)


def seller(account_id: int, currency: str) -> Account:
    return Account.of(AccountKind.SELLER, currency, account_id)


def revenue(currency: str) -> Account:
    return Account.of(AccountKind.REVENUE, currency)


async def open_account(conn: Conn, account: Account, now: datetime) -> int:
    limit = "debits_le_credits" if account.kind in LIABILITIES else "credits_le_debits"
    found: int | None = await conn.fetchval(
        """INSERT INTO ledger_accounts (code, currency, kind, owner_id, balance_limit, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING RETURNING id""",
        account.code, account.currency, account.kind.value, account.owner_id, limit, now,
    )
    if found is None:
        found = await conn.fetchval("SELECT id FROM ledger_accounts WHERE code = $1", account.code)
    assert found is not None
    return found


def _transfer(row: asyncpg.Record) -> Transfer:
    return msgspec.convert(dict(row), Transfer, strict=False)


async def get_transfer(conn: Conn, transfer_id: str) -> Transfer | None:
    row = await conn.fetchrow(f"{_TRANSFER} WHERE t.id = $1", transfer_id)
    return _transfer(row) if row else None


def _same(found: Transfer, flow: Flow, debit: str, credit: str, amount: int, pending_id: str | None) -> bool:
    return (found.flow, found.debit_account, found.credit_account, found.amount, found.pending_id) == (
        flow, debit, credit, amount, pending_id
    )


async def _move(conn: Conn, changes: dict[int, tuple[int, int, int, int]], codes: dict[int, str]) -> None:
    """Adds (debits pending, debits posted, credits pending, credits posted) per account id,
    in id order so that two transfers over the same accounts never deadlock."""
    for account_id in sorted(changes):
        dp, dq, cp, cq = changes[account_id]
        try:
            await conn.execute(
                """UPDATE ledger_accounts SET debits_pending = debits_pending + $2,
                       debits_posted = debits_posted + $3, credits_pending = credits_pending + $4,
                       credits_posted = credits_posted + $5 WHERE id = $1""",
                account_id, dp, dq, cp, cq,
            )
        except asyncpg.CheckViolationError as exc:
            raise Conflict(f"ledger account {codes[account_id]} would exceed its limit: insufficient funds") from exc


async def transfer(
    conn: Conn, transfer_id: str, debit: Account, credit: Account, amount: int, now: datetime, *,
    memo: str, pending: bool = False, deposit_id: int | None = None, trade_id: int | None = None,
) -> Transfer:
    """A posted transfer, or with `pending` a hold to be posted or voided later."""
    if not 0 < amount or debit.currency != credit.currency or debit.code == credit.code:
        raise ValueError(f"not a valid transfer: {amount} from {debit.code} to {credit.code}")
    flow = Flow.PENDING if pending else Flow.POSTED
    debit_id = await open_account(conn, debit, now)
    credit_id = await open_account(conn, credit, now)
    inserted = await conn.fetchval(
        """INSERT INTO ledger_transfers (id, flow, debit_account_id, credit_account_id, amount,
               currency, memo, deposit_id, trade_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING id""",
        transfer_id, flow.value, debit_id, credit_id, amount, debit.currency, memo[:MAX_MEMO],
        deposit_id, trade_id, now,
    )
    if inserted is None:
        return await _replayed(conn, transfer_id, flow, debit.code, credit.code, amount, None)
    codes = {debit_id: debit.code, credit_id: credit.code}
    if pending:
        await _move(conn, {debit_id: (amount, 0, 0, 0), credit_id: (0, 0, amount, 0)}, codes)
    else:
        await _move(conn, {debit_id: (0, amount, 0, 0), credit_id: (0, 0, 0, amount)}, codes)
    found = await get_transfer(conn, transfer_id)
    assert found is not None
    return found


async def _replayed(
    conn: Conn, transfer_id: str, flow: Flow, debit: str, credit: str, amount: int, pending_id: str | None,
) -> Transfer:
    found = await get_transfer(conn, transfer_id)
    assert found is not None
    if not _same(found, flow, debit, credit, amount, pending_id):
        raise Conflict(f"transfer id {transfer_id} was already used for a different transfer")
    return found


async def post(conn: Conn, transfer_id: str, pending_id: str, now: datetime, *, memo: str) -> Transfer:
    """Posts a hold in full: the held amount moves."""
    return await _resolve(conn, transfer_id, pending_id, Flow.POST_PENDING, now, memo)


async def void(conn: Conn, transfer_id: str, pending_id: str, now: datetime, *, memo: str) -> Transfer:
    """Voids a hold: the held amount is available again and nothing moves."""
    return await _resolve(conn, transfer_id, pending_id, Flow.VOID_PENDING, now, memo)


async def _resolve(conn: Conn, transfer_id: str, pending_id: str, flow: Flow, now: datetime, memo: str) -> Transfer:
    # The row lock serialises everyone resolving the same hold; triggers do not fire on it.
    row = await conn.fetchrow(
        """SELECT flow, debit_account_id, credit_account_id, amount, currency, deposit_id, trade_id
           FROM ledger_transfers WHERE id = $1 FOR UPDATE""", pending_id,
    )
    if row is None:
        raise NotFound(f"no pending transfer {pending_id}")
    if row["flow"] != Flow.PENDING.value:
        raise Conflict(f"transfer {pending_id} is not a pending transfer")
    pending = await get_transfer(conn, pending_id)
    assert pending is not None
    resolved = await conn.fetchval("SELECT id FROM ledger_transfers WHERE pending_id = $1", pending_id)
    if resolved is not None:
        if resolved == transfer_id:
            return await _replayed(conn, transfer_id, flow, pending.debit_account, pending.credit_account,
                                   pending.amount, pending_id)
        raise Conflict(f"the hold {pending_id} was already resolved by {resolved}")
    if await get_transfer(conn, transfer_id) is not None:
        raise Conflict(f"transfer id {transfer_id} was already used for a different transfer")
    amount, debit_id, credit_id = row["amount"], row["debit_account_id"], row["credit_account_id"]
    await conn.execute(
        """INSERT INTO ledger_transfers (id, flow, debit_account_id, credit_account_id, amount, currency,
               pending_id, memo, deposit_id, trade_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        transfer_id, flow.value, debit_id, credit_id, amount, row["currency"], pending_id,
        memo[:MAX_MEMO], row["deposit_id"], row["trade_id"], now,
    )
    posted = amount if flow == Flow.POST_PENDING else 0
    codes = {debit_id: pending.debit_account, credit_id: pending.credit_account}
    await _move(conn, {debit_id: (-amount, posted, 0, 0), credit_id: (0, 0, -amount, posted)}, codes)
    found = await get_transfer(conn, transfer_id)
    assert found is not None
    return found


async def balance(conn: Conn, code: str) -> Balance | None:
    row = await conn.fetchrow(
        """SELECT code, kind, currency, owner_id, debits_pending, debits_posted, credits_pending,
               credits_posted FROM ledger_accounts WHERE code = $1""", code,
    )
    return msgspec.convert(dict(row), Balance, strict=False) if row else None


async def transfers_of(
    conn: Conn, *, deposit_id: int | None = None, trade_id: int | None = None,
    owner_id: int | None = None, limit: int = 200,
) -> list[Transfer]:
    """The ledger lines of one deposit, one trade, or every account a party owns."""
    if deposit_id is not None:
        rows = await conn.fetch(f"{_TRANSFER} WHERE t.deposit_id = $1 ORDER BY t.created_at, t.id LIMIT $2",
                                deposit_id, limit)
    elif trade_id is not None:
        rows = await conn.fetch(f"{_TRANSFER} WHERE t.trade_id = $1 ORDER BY t.created_at, t.id LIMIT $2",
                                trade_id, limit)
    else:
        rows = await conn.fetch(
            f"""{_TRANSFER} WHERE d.owner_id = $1 OR c.owner_id = $1
                ORDER BY t.created_at DESC, t.id LIMIT $2""", owner_id, limit)
    return [_transfer(row) for row in rows]
