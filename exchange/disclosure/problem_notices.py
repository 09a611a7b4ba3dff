"""The notices of a problem tender's public facts (难题招标公示): each milestone accepted and paid,
and each operator's ruling on a solver's objection. Deliverables, reasons, grounds and the
escrow stay between the parties; a ruling publishes its decision and the operator's reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn

_MILESTONE = """SELECT t.reference_no, t.title, o.display_name AS owner_name, w.display_name AS solver_name,
    p.currency, m.seq, m.title AS milestone, m.share, m.due_on, m.status, m.accepted_at, m.released_by
    FROM problem_milestones m JOIN problem_tenders p ON p.tender_id = m.tender_id
    JOIN tenders t ON t.id = m.tender_id JOIN accounts o ON o.id = t.owner_id JOIN accounts w ON w.id = t.winner_id
    WHERE m.tender_id = $1 AND m.seq = $2"""


async def _milestone(conn: Conn, tender_id: int, seq: int) -> Any:
    row = await conn.fetchrow(_MILESTONE, tender_id, seq)
    assert row is not None
    return row


def _notice(kind: Kind, row: Any, subject: str, now: datetime, body: dict[str, Any]) -> Notice:
    return Notice(kind=kind, procedure=row["reference_no"], subject=subject, published_at=now, body={
        "item": {"reference_no": row["reference_no"], "title": row["title"], "title_en": None},
        "owner": row["owner_name"], "winner": row["solver_name"], "currency": row["currency"].strip(),
        "milestone": {"seq": row["seq"], "title": row["milestone"], "share": row["share"],
                      "due_on": row["due_on"].isoformat()},
    } | body)


async def problem_milestone_accepted(conn: Conn, tender_id: int, seq: int, now: datetime) -> Notice | None:
    """里程碑验收公告: the milestone, its share paid to the solver, and whether the owner accepted
    it or an operator's arbitration released it."""
    row = await _milestone(conn, tender_id, seq)
    if row["status"] != "accepted":
        return None
    return _notice(Kind.PROBLEM_MILESTONE_ACCEPTED, row, f"{row['reference_no']}-M{seq}", now, {
        "accepted_at": instant(row["accepted_at"]), "released_by": row["released_by"]})


async def problem_arbitration(conn: Conn, tender_id: int, seq: int, step_id: int, now: datetime) -> Notice | None:
    """仲裁结果: the operator's ruling on an objection, release or uphold, with its reasons."""
    row = await _milestone(conn, tender_id, seq)
    step = await conn.fetchrow("SELECT step, note, at FROM problem_steps WHERE id = $1", step_id)
    if step is None or step["step"] not in ("released", "upheld"):
        return None
    return _notice(Kind.PROBLEM_ARBITRATION, row, f"{row['reference_no']}-M{seq}-ARB{step_id}", now, {
        "outcome": "release" if step["step"] == "released" else "uphold", "ruling": step["note"],
        "ruled_at": instant(step["at"])})
