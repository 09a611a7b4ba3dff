"""The ledger steps of a problem tender, inside the caller's transaction.

The budget sits in the tender's own escrow account from the owner's bank transfer until it is
released to the solver (a milestone accepted) or refunded to the owner (the problem closed).
Transfer ids are derived from what they settle (`problem:12:escrow`, `problem:12:m2:release`),
so a step repeated after a crash replays instead of moving money twice.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from exchange.infra.db import Conn
from exchange.ledger import ledger
from exchange.ledger.ledger import Account
from exchange.ledger.types import AccountKind
from exchange.settlement import moves


def escrow(tender_id: int, currency: str) -> Account:
    """Where a problem tender's budget is held (托管)."""
    return Account(f"escrow:problem:{tender_id}:{currency}", AccountKind.ESCROW, currency)


def _cur(problem: asyncpg.Record) -> str:
    cur: str = problem["currency"].strip()
    return cur


async def fund(conn: Conn, problem: asyncpg.Record, statement_ref: str, operator_id: int, now: datetime) -> None:
    """The owner's bank transfer is received and the whole budget moves into the escrow."""
    tender_id, owner_id, cur = problem["tender_id"], problem["owner_id"], _cur(problem)
    await moves.receive(conn, provider="offline", external_ref=statement_ref, purpose="escrow", payer_id=owner_id,
                        amount=problem["budget"], currency=cur, now=now, confirmed_by=operator_id)
    await ledger.transfer(conn, f"problem:{tender_id}:escrow", ledger.investor(owner_id, cur), escrow(tender_id, cur),
                          problem["budget"], now, memo=f"budget of problem tender {problem['reference_no']} escrowed")


async def release(conn: Conn, problem: asyncpg.Record, milestone: asyncpg.Record, now: datetime) -> int:
    """The milestone's share to the solver's payee account, and a payout to send. Returns the payout's id."""
    tender_id, seq, cur = problem["tender_id"], milestone["seq"], _cur(problem)
    solver = ledger.seller(problem["winner_id"], cur)
    await ledger.transfer(conn, f"problem:{tender_id}:m{seq}:release", escrow(tender_id, cur), solver,
                          milestone["share"], now, memo=f"milestone {seq} of {problem['reference_no']} accepted")
    return await moves.pay_out(conn, payee=solver, payee_id=problem["winner_id"], purpose="milestone",
                               amount=milestone["share"], provider="offline",
                               transfer_id=f"problem:{tender_id}:m{seq}:payout", now=now)


async def refund(conn: Conn, problem: asyncpg.Record, amount: int, now: datetime) -> int | None:
    """What is left in the escrow back to the owner, paid back by bank transfer. Returns the payout's id."""
    if amount == 0:
        return None
    tender_id, owner_id, cur = problem["tender_id"], problem["owner_id"], _cur(problem)
    owner = ledger.investor(owner_id, cur)
    await ledger.transfer(conn, f"problem:{tender_id}:refund", escrow(tender_id, cur), owner, amount, now,
                          memo=f"unspent budget of {problem['reference_no']} refunded")
    return await moves.pay_out(conn, payee=owner, payee_id=owner_id, purpose="refund", amount=amount,
                               provider="offline", transfer_id=f"problem:{tender_id}:refund-payout", now=now)
