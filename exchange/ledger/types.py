"""Ledger accounts and transfers (two-phase: a pending hold is later posted or voided once)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class AccountKind(StrEnum):
    BANK = "bank"  # the exchange's settlement bank account (结算账户)
    CARD = "card"  # funds at the card processor
    INVESTOR = "investor"  # what the exchange owes an investor
    SELLER = "seller"  # what the exchange owes a seller
    ESCROW = "escrow"  # deposits and prices held for a trade
    REVENUE = "revenue"  # commission and the exchange's share of forfeitures


# A liability may never go negative; money at a bank or processor may never go negative.
LIABILITIES = (AccountKind.INVESTOR, AccountKind.SELLER, AccountKind.ESCROW, AccountKind.REVENUE)


class Flow(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


class Transfer(msgspec.Struct, frozen=True):
    id: str
    flow: Flow
    debit_account: str
    credit_account: str
    amount: int
    currency: str
    pending_id: str | None
    memo: str
    deposit_id: int | None
    trade_id: int | None
    created_at: datetime


class Balance(msgspec.Struct, frozen=True):
    code: str
    kind: AccountKind
    currency: str
    owner_id: int | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def available(self) -> int:
        """For a liability: what may still be held or paid out of it."""
        return self.credits_posted - self.debits_posted - self.debits_pending
