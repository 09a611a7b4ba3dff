"""The notices of a tender's public facts (招标公示), built from the rows its step just wrote.

Sealed means sealed: the announcement carries nothing about proposals, and no record names
a bidder or a price before the opening. The committee's names appear first in the award.
Each notice carries the end of its objection window where DOMAIN.md gives one: questions and
objections on the announcement until 10 days before the deadline, candidates and award 3 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn
from exchange.tenders import repository as tenders


async def _tender(conn: Conn, tender_id: int) -> Any:
    row = await tenders.tender(conn, tender_id)
    assert row is not None
    return row


def _project(row: Any) -> dict[str, Any]:
    """What the notice board shows as the item: the tender's reference and title."""
    return {"reference_no": row["reference_no"], "title": row["title"], "title_en": None}


def _notice(kind: Kind, row: Any, subject: str, now: datetime, body: dict[str, Any],
            open_until: datetime | None = None) -> Notice:
    return Notice(kind=kind, procedure=row["reference_no"], subject=subject, published_at=now, open_until=open_until,
                  body={"item": _project(row), "owner": row["owner_name"], "currency": row["currency"].strip()} | body)


async def tender_announcement(conn: Conn, tender_id: int, now: datetime) -> Notice | None:
    """招标公告: documents, evaluation method and weights, estimate, security and deadline; open for
    questions and objections until 10 days before the deadline. No proposal exists yet to tell of."""
    row = await _tender(conn, tender_id)
    if row["status"] != "open":
        return None
    previous = None
    if row["retender_of"] is not None:
        previous = await conn.fetchval("SELECT reference_no FROM tenders WHERE id = $1", row["retender_of"])
    return _notice(Kind.TENDER_ANNOUNCEMENT, row, row["reference_no"], now, open_until=row["questions_until"], body={
        "summary": row["summary"], "documents": row["documents"],
        "evaluation": {"method": row["evaluation"], "price_weight_bp": row["price_weight"]},
        "estimate": row["estimate"], "security": row["security_amount"],
        "documents_issued_at": instant(row["documents_issued_at"]), "deadline": instant(row["deadline"]),
        "questions_until": instant(row["questions_until"]), "retender_of": previous,
    })


async def tender_opening(conn: Conn, tender_id: int, now: datetime) -> Notice | None:
    """开标记录: at the deadline, each bidder's name, price and receipt commitment; with too few
    proposals, only that there was no opening and how many arrived (a re-tender)."""
    row = await _tender(conn, tender_id)
    if row["status"] not in ("opened", "retender") or row["opened_at"] is None:
        return None
    proposals = await tenders.proposals(conn, tender_id)
    opened = row["status"] == "opened"
    return _notice(Kind.TENDER_OPENING, row, f"{row['reference_no']}-OPENING", now, body={
        "deadline": instant(row["deadline"]), "opened_at": instant(row["opened_at"]), "opened": opened,
        "proposals_received": len(proposals),
        "proposals": [{"bidder": p["bidder_name"], "price": p["price"], "commitment": p["commitment"],
                       "submitted_at": instant(p["submitted_at"]), "revealed": p["revealed_at"] is not None}
                      for p in proposals] if opened else [],
    })


async def tender_candidates(conn: Conn, tender_id: int, now: datetime) -> Notice | None:
    """中标候选人公示: the ranked candidates with their prices, for at least 3 days; objections
    pause the award until answered. The committee is counted, not named."""
    row = await _tender(conn, tender_id)
    if row["status"] != "candidates":
        return None
    return _notice(Kind.TENDER_CANDIDATES, row, f"{row['reference_no']}-CANDIDATES", now,
                   open_until=row["candidates_until"], body={
                       "evaluation": {"method": row["evaluation"], "price_weight_bp": row["price_weight"]},
                       "candidates": [{"rank": c["rank"], "bidder": c["bidder_name"], "price": c["price"],
                                       "score": c["score"]} for c in row["candidates"]],
                       "committee_size": len(row["committee"] or []),
                       "ranked_at": instant(row["ranked_at"]), "candidates_until": instant(row["candidates_until"]),
                   })


async def tender_award(conn: Conn, tender_id: int, now: datetime, period: timedelta) -> Notice | None:
    """中标结果公告: the winner, the amount and the committee's names; open for `period` (3 days)."""
    row = await _tender(conn, tender_id)
    if row["status"] != "awarded":
        return None
    winner = row["candidates"][0]
    return _notice(Kind.TENDER_AWARD, row, f"{row['reference_no']}-AWARD", now, open_until=now + period, body={
        "winner": winner["bidder_name"], "amount": row["award_price"], "awarded_at": instant(row["awarded_at"]),
        "contract_due": instant(row["contract_due"]), "committee": list(row["committee"] or []),
    })


async def tender_objection_outcome(conn: Conn, tender_id: int, question_id: int, now: datetime) -> Notice | None:
    """招标异议答复: an objection (to the announcement or to the candidates) and its answer; the
    objector is not named. Questions are answered on the tender's page, not here."""
    row = await _tender(conn, tender_id)
    objection = await conn.fetchrow(
        "SELECT * FROM tender_questions WHERE id = $1 AND tender_id = $2 AND kind = 'objection' AND answer IS NOT NULL",
        question_id, tender_id)
    if objection is None:
        return None
    return _notice(Kind.TENDER_OBJECTION_OUTCOME, row, f"{row['reference_no']}-OBJECTION-{question_id}", now, body={
        "objection_no": question_id, "stage": objection["stage"], "objection": objection["body"], "objected_at": instant(objection["asked_at"]),
        "answer": objection["answer"], "answered_at": instant(objection["answered_at"]),
    })
