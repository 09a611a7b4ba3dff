"""The notices of agreement pricing (协议定价公示): the notice itself, each objection's outcome,
and the clearance after which the deal closes. DOMAIN.md's fields: the achievement's name,
summary, transfer mode, proposed price, the related-party flag and the objection procedure;
open at least 15 days. Objections are published with their grounds and the operator's answer,
never with the objector's identity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn

_AGREEMENT = """SELECT g.*, ach.title, ach.title_en, ach.appraised_value, ach.ip_identifiers, ach.inventors,
       s.display_name AS seller_name, b.display_name AS buyer_name
  FROM agreements g JOIN achievements ach ON ach.id = g.achievement_id
  JOIN accounts s ON s.id = g.seller_id JOIN accounts b ON b.id = g.buyer_id WHERE g.id = $1"""


async def _agreement(conn: Conn, agreement_id: int) -> Any:
    row = await conn.fetchrow(_AGREEMENT, agreement_id)
    assert row is not None
    return row


def _item(row: Any) -> dict[str, Any]:
    return {"reference_no": row["reference_no"], "title": row["title"], "title_en": row["title_en"]}


def _period(row: Any) -> dict[str, Any]:
    return {"start": instant(row["notice_start"]), "end": instant(row["notice_end"]), "days": row["notice_days"]}


async def agreement_notice(conn: Conn, agreement_id: int, now: datetime) -> Notice:
    """协议定价公示: open until the notice period ends."""
    row = await _agreement(conn, agreement_id)
    return Notice(
        kind=Kind.AGREEMENT_NOTICE, procedure=row["reference_no"], subject=row["reference_no"],
        published_at=now, open_until=row["notice_end"],
        body={
            "item": _item(row) | {"summary": row["summary"], "ip_identifiers": list(row["ip_identifiers"]),
                                  "inventors": list(row["inventors"])},
            "seller": row["seller_name"], "parties": {"seller": row["seller_name"], "buyer": row["buyer_name"]},
            "transfer_mode": row["transfer_mode"], "price": row["price"], "currency": row["currency"].strip(),
            "appraisal": row["appraised_value"],
            "related_party": {"flag": row["related_party"], "note": row["related_party_note"]},
            "objection_procedure": row["objection_procedure"], "notice": _period(row),
        },
    )


async def agreement_objection_outcome(conn: Conn, agreement_id: int, objection_id: int, now: datetime) -> Notice | None:
    """协议定价异议处理结果: the grounds, the outcome (upheld: the agreement is cancelled) and the answer."""
    row = await _agreement(conn, agreement_id)
    objection = await conn.fetchrow(
        "SELECT id, grounds, filed_at, outcome, answer, answered_at FROM agreement_objections "
        "WHERE id = $1 AND agreement_id = $2", objection_id, agreement_id)
    if objection is None or objection["outcome"] is None:
        return None
    return Notice(
        kind=Kind.AGREEMENT_OBJECTION_OUTCOME, procedure=row["reference_no"],
        subject=f"{row['reference_no']}-OBJ{objection_id}", published_at=now,
        body={
            "item": _item(row), "seller": row["seller_name"],
            "objection": {"no": objection_id, "filed_at": instant(objection["filed_at"]),
                          "grounds": objection["grounds"]},
            "outcome": objection["outcome"], "answer": objection["answer"],
            "answered_at": instant(objection["answered_at"]), "agreement_status": row["status"],
            "notice": _period(row),
        },
    )


async def agreement_cleared(conn: Conn, agreement_id: int, now: datetime) -> Notice | None:
    """公示期满: no objection open (none filed, or every one dismissed); the deal closes at the noticed price."""
    row = await _agreement(conn, agreement_id)
    if row["status"] != "cleared":
        return None
    counts = await conn.fetchrow(
        "SELECT count(*) AS filed, count(*) FILTER (WHERE outcome = 'dismissed') AS dismissed "
        "FROM agreement_objections WHERE agreement_id = $1", agreement_id)
    assert counts is not None
    return Notice(
        kind=Kind.AGREEMENT_CLEARED, procedure=row["reference_no"], subject=f"{row['reference_no']}-CLEARED",
        published_at=now,
        body={
            "item": _item(row), "seller": row["seller_name"],
            "parties": {"seller": row["seller_name"], "buyer": row["buyer_name"]},
            "transfer_mode": row["transfer_mode"], "price": row["price"], "currency": row["currency"].strip(),
            "related_party": {"flag": row["related_party"], "note": row["related_party_note"]},
            "notice": _period(row), "objections": {"filed": counts["filed"], "dismissed": counts["dismissed"]},
            "cleared_at": instant(row["cleared_at"]),
        },
    )
