from __future__ import annotations

from datetime import datetime

import asyncpg

from exchange.accounts.types import Account, Role, TokenInfo
from exchange.infra.db import Conn

_ACCOUNT_COLUMNS = "id, role, email, display_name, contact_name, phone, created_at"


def _account(row: asyncpg.Record) -> Account:
    return Account(
        id=row["id"], role=Role(row["role"]), email=row["email"],
        display_name=row["display_name"], contact_name=row["contact_name"],
        phone=row["phone"], created_at=row["created_at"],
    )


async def insert_account(
    conn: Conn, *, role: Role, email: str, display_name: str, contact_name: str,
    phone: str, password_hash: str, now: datetime,
) -> Account | None:
    row = await conn.fetchrow(
        f"""INSERT INTO accounts (role, email, display_name, contact_name, phone, password_hash, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (lower(email)) DO NOTHING
            RETURNING {_ACCOUNT_COLUMNS}""",
        role.value, email, display_name, contact_name, phone, password_hash, now,
    )
    return _account(row) if row else None


async def account_with_hash(conn: Conn, email: str) -> tuple[Account, str] | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS}, password_hash FROM accounts "
        "WHERE lower(email) = lower($1) AND NOT disabled",
        email,
    )
    return (_account(row), row["password_hash"]) if row else None


async def account_by_email(conn: Conn, email: str) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE lower(email) = lower($1) AND NOT disabled", email
    )
    return _account(row) if row else None


async def update_password_hash(conn: Conn, account_id: int, password_hash: str) -> None:
    await conn.execute("UPDATE accounts SET password_hash = $2 WHERE id = $1", account_id, password_hash)


async def account_by_id(conn: Conn, account_id: int) -> Account | None:
    row = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = $1 AND NOT disabled", account_id
    )
    return _account(row) if row else None


async def insert_token(
    conn: Conn, *, account_id: int, name: str, token_hash: bytes, prefix: str,
    now: datetime,
) -> int:
    token_id: int = await conn.fetchval(
        """INSERT INTO api_tokens (account_id, name, token_hash, prefix, created_at)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        account_id, name, token_hash, prefix, now,
    )
    return token_id


async def account_by_token_hash(
    conn: Conn, token_hash: bytes
) -> tuple[Account, datetime | None] | None:
    """The account of an active token and when the token was last used (a read: no commit)."""
    row = await conn.fetchrow(
        f"""SELECT {", ".join("a." + c.strip() for c in _ACCOUNT_COLUMNS.split(","))}, t.last_used_at
            FROM api_tokens t JOIN accounts a ON a.id = t.account_id
            WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND NOT a.disabled""",
        token_hash,
    )
    return (_account(row), row["last_used_at"]) if row else None


async def touch_token(conn: Conn, token_hash: bytes, now: datetime) -> None:
    await conn.execute("UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1", token_hash, now)


async def tokens_of(conn: Conn, account_id: int) -> list[TokenInfo]:
    rows = await conn.fetch(
        """SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens
           WHERE account_id = $1 ORDER BY id DESC""",
        account_id,
    )
    return [TokenInfo(**dict(r)) for r in rows]


async def revoke_token(conn: Conn, account_id: int, token_id: int, now: datetime) -> bytes | None:
    """The revoked token's hash, or None when the account has no such active token."""
    token_hash: bytes | None = await conn.fetchval(
        """UPDATE api_tokens SET revoked_at = $3
           WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL RETURNING token_hash""",
        token_id, account_id, now,
    )
    return token_hash
