"""Who may bid: the seam where qualification rules plug in.

Today an operator's approval qualifies an investor (资格审核). The escrow issue adds the
deposit (保证金) check as another `Qualification`, consulted at the same point.
"""

from __future__ import annotations

from typing import Protocol

from exchange.accounts.types import Account
from exchange.auctions.lot import LotInfo
from exchange.infra.db import Conn


class Qualification(Protocol):
    async def problem(self, conn: Conn, auction: LotInfo, account: Account) -> str | None:
        """Why `account` may not bid in `auction`, or None when it may."""


class OperatorApproval:
    """The operator's approval is the qualification; only a disabled account is refused."""

    async def problem(self, conn: Conn, auction: LotInfo, account: Account) -> str | None:
        disabled: bool | None = await conn.fetchval("SELECT disabled FROM accounts WHERE id = $1", account.id)
        if disabled:
            return "the account is disabled"
        return None


class AllOf:
    """Every rule must pass; the first problem found is reported."""

    def __init__(self, *rules: Qualification) -> None:
        self._rules = rules

    async def problem(self, conn: Conn, auction: LotInfo, account: Account) -> str | None:
        for rule in self._rules:
            found = await rule.problem(conn, auction, account)
            if found is not None:
                return found
        return None
