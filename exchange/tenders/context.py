"""What every tender step needs: the pool, the clock, the calendar's acceleration, the sealer, the rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from exchange.accounts.types import Account, Role
from exchange.clock import Clock
from exchange.errors import Forbidden, NotAuthenticated, NotFound
from exchange.infra.db import Conn
from exchange.ledger.ledger import Account as LedgerAccount
from exchange.ledger.types import AccountKind
from exchange.tenders import repository as repo
from exchange.tenders.sealing import Sealer
from exchange.tenders.types import TenderRules, days

PARTIES = (Role.INSTITUTION, Role.INVESTOR)


@dataclass(frozen=True)
class TenderContext:
    pool: asyncpg.Pool
    clock: Clock
    acceleration: int
    sealer: Sealer
    rules: TenderRules

    def days(self, count: int) -> timedelta:
        return days(count, self.acceleration)


def securities_held(currency: str) -> LedgerAccount:
    """The escrow account holding bid securities (保证金) until they are refunded."""
    return LedgerAccount(f"escrow:tender-securities:{currency}", AccountKind.ESCROW, currency)


def party(account: Account | None) -> Account:
    """Tenders are announced and bid on by institutions and investors (enterprises) alike."""
    if account is None:
        raise NotAuthenticated("log in first")
    if account.role not in PARTIES:
        raise Forbidden("only institutions and investors take part in tenders")
    return account


async def locked_tender(conn: Conn, tender_id: int) -> asyncpg.Record:
    tender = await repo.tender(conn, tender_id, for_update=True)
    if tender is None:
        raise NotFound("no such tender")
    return tender
