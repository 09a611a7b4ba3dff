"""`exchange ledger check`: the ledger's invariants verified on the live database.

Each check is one query returning the offending entries; an empty result means it holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange.infra.db import Conn


@dataclass(frozen=True)
class Invariant:
    name: str
    query: str


INVARIANTS = (
    Invariant("entries sum to zero per currency", """
        SELECT currency, sum(debits_posted) - sum(credits_posted) AS posted_difference,
               sum(debits_pending) - sum(credits_pending) AS pending_difference
        FROM ledger_accounts GROUP BY currency
        HAVING sum(debits_posted) <> sum(credits_posted) OR sum(debits_pending) <> sum(credits_pending)"""),
    Invariant("account balances equal the sum of their transfers", """
        WITH moves AS (
            SELECT t.debit_account_id AS account, t.flow, t.amount, 'debit' AS side FROM ledger_transfers t
            UNION ALL SELECT t.credit_account_id, t.flow, t.amount, 'credit' FROM ledger_transfers t),
        derived AS (
            SELECT account,
                sum(CASE WHEN side = 'debit' AND flow = 'pending' THEN amount
                         WHEN side = 'debit' AND flow IN ('post_pending', 'void_pending') THEN -amount ELSE 0 END) AS dp,
                sum(CASE WHEN side = 'debit' AND flow IN ('posted', 'post_pending') THEN amount ELSE 0 END) AS dq,
                sum(CASE WHEN side = 'credit' AND flow = 'pending' THEN amount
                         WHEN side = 'credit' AND flow IN ('post_pending', 'void_pending') THEN -amount ELSE 0 END) AS cp,
                sum(CASE WHEN side = 'credit' AND flow IN ('posted', 'post_pending') THEN amount ELSE 0 END) AS cq
            FROM moves GROUP BY account)
        SELECT a.code, a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted,
               coalesce(d.dp, 0) AS derived_debits_pending, coalesce(d.dq, 0) AS derived_debits_posted,
               coalesce(d.cp, 0) AS derived_credits_pending, coalesce(d.cq, 0) AS derived_credits_posted
        FROM ledger_accounts a LEFT JOIN derived d ON d.account = a.id
        WHERE (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
           <> (coalesce(d.dp, 0), coalesce(d.dq, 0), coalesce(d.cp, 0), coalesce(d.cq, 0))"""),
    Invariant("no account beyond its limit", """
        SELECT code, balance_limit, debits_pending, debits_posted, credits_posted FROM ledger_accounts
        WHERE (balance_limit = 'debits_le_credits' AND debits_pending + debits_posted > credits_posted)
           OR (balance_limit = 'credits_le_debits' AND credits_pending + credits_posted > debits_posted)"""),
    Invariant("every hold resolved at most once, by its own amount and accounts", """
        SELECT r.id, r.pending_id, r.flow, p.flow AS pending_flow FROM ledger_transfers r
        LEFT JOIN ledger_transfers p ON p.id = r.pending_id
        WHERE r.pending_id IS NOT NULL AND (p.id IS NULL OR p.flow <> 'pending' OR p.amount <> r.amount
              OR p.debit_account_id <> r.debit_account_id OR p.credit_account_id <> r.credit_account_id
              OR (SELECT count(*) FROM ledger_transfers o WHERE o.pending_id = r.pending_id) > 1)"""),
    Invariant("each deposit's hold matches its status", """
        SELECT d.reference_code, d.status, h.id AS hold, r.flow AS resolution FROM deposits d
        LEFT JOIN ledger_transfers h ON h.id = 'deposit:' || d.id || ':hold'
        LEFT JOIN ledger_transfers r ON r.pending_id = h.id
        WHERE (d.status IN ('due', 'lapsed') AND h.id IS NOT NULL)
           OR (d.status = 'held' AND (h.id IS NULL OR r.id IS NOT NULL OR h.amount <> d.amount))
           OR (d.status IN ('applied', 'forfeited') AND r.flow IS DISTINCT FROM 'post_pending')
           OR (d.status = 'released' AND r.flow IS DISTINCT FROM 'void_pending')"""),
    Invariant("each tender bid security's hold matches its status", """
        SELECT s.reference_code, s.status, h.id AS hold, r.flow AS resolution FROM tender_securities s
        LEFT JOIN ledger_transfers h ON h.id = 'security:' || s.id || ':hold'
        LEFT JOIN ledger_transfers r ON r.pending_id = h.id
        WHERE (s.status IN ('due', 'lapsed') AND h.id IS NOT NULL)
           OR (s.status = 'held' AND (h.id IS NULL OR r.id IS NOT NULL OR h.amount <> s.amount))
           OR (s.status = 'refunded' AND r.flow IS DISTINCT FROM 'void_pending')"""),
    Invariant("every payment received is in the ledger, once, for its amount", """
        SELECT p.provider, p.external_ref, p.amount, t.amount AS ledger_amount, t.flow FROM payments p
        LEFT JOIN ledger_transfers t ON t.id = p.transfer_id
        LEFT JOIN ledger_accounts d ON d.id = t.debit_account_id
        WHERE t.id IS NULL OR t.amount <> p.amount OR t.flow <> 'posted'
           OR d.code <> (CASE p.provider WHEN 'stripe' THEN 'card:' ELSE 'bank:' END) || p.currency"""),
    Invariant("every card payment of a balance captured is in the ledger, for its amount", """
        SELECT c.intent_id, c.purpose, c.reference, c.amount, p.amount AS recorded FROM card_payments c
        LEFT JOIN payments p ON p.provider = 'stripe' AND p.external_ref = c.intent_id
        WHERE p.id IS NULL OR p.amount <> c.amount"""),
    Invariant("bank and card balances equal payments received less payouts", """
        WITH flows AS (
            SELECT provider, currency, sum(amount) AS received, 0::numeric AS paid FROM payments GROUP BY 1, 2
            UNION ALL SELECT provider, currency, 0, sum(amount) FROM payouts GROUP BY 1, 2),
        expected AS (
            SELECT (CASE provider WHEN 'stripe' THEN 'card:' ELSE 'bank:' END) || currency AS code,
                   sum(received) AS received, sum(paid) AS paid FROM flows GROUP BY 1)
        SELECT coalesce(a.code, e.code) AS code, a.debits_posted, e.received, a.credits_posted, e.paid
        FROM ledger_accounts a FULL JOIN expected e ON e.code = a.code
        WHERE (a.kind IS NULL OR a.kind IN ('bank', 'card'))
          AND (coalesce(a.debits_posted, 0) <> coalesce(e.received, 0) OR coalesce(a.credits_posted, 0) <> coalesce(e.paid, 0))"""),
    Invariant("each problem tender's escrow holds its budget less what was released or refunded", """
        SELECT p.tender_id, p.status, p.budget, a.credits_posted, a.debits_posted, paid.released, p.refunded
        FROM problem_tenders p
        LEFT JOIN ledger_accounts a ON a.code = 'escrow:problem:' || p.tender_id || ':' || p.currency
        CROSS JOIN LATERAL (SELECT coalesce(sum(share), 0) AS released FROM problem_milestones m
                            WHERE m.tender_id = p.tender_id AND m.status = 'accepted') paid
        WHERE coalesce(a.credits_posted, 0) <> (CASE WHEN p.funded_at IS NULL THEN 0 ELSE p.budget END)
           OR coalesce(a.debits_posted, 0) <> paid.released + p.refunded
           OR (p.status IN ('completed', 'cancelled') AND coalesce(a.credits_posted - a.debits_posted, 0) <> 0)"""),
    Invariant("each accepted milestone was released once, for its share", """
        SELECT m.tender_id, m.seq, m.status, m.share, t.amount FROM problem_milestones m
        LEFT JOIN ledger_transfers t ON t.id = 'problem:' || m.tender_id || ':m' || m.seq || ':release'
        WHERE (m.status = 'accepted') <> (t.id IS NOT NULL) OR t.amount <> m.share"""),
    Invariant("settled trades hold nothing in escrow", """
        SELECT t.reference_code, a.code, a.credits_posted - a.debits_posted AS left_in_escrow FROM trades t
        JOIN ledger_accounts a ON a.code = 'escrow:trade:' || t.id || ':' || t.currency
        WHERE t.status IN ('released', 'forfeited', 'rescinded') AND a.credits_posted <> a.debits_posted"""),
)


@dataclass(frozen=True)
class Failure:
    invariant: str
    entries: list[dict[str, object]]


async def check(conn: Conn, limit: int = 50) -> list[Failure]:
    """Every invariant that fails, with up to `limit` offending entries each."""
    failures = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for invariant in INVARIANTS:
            rows = await conn.fetch(f"{invariant.query} LIMIT {int(limit)}")
            if rows:
                failures.append(Failure(invariant.name, [dict(row) for row in rows]))
    return failures
