"""What each party sees of a tender (JSON-ready). Before the opening nothing of a proposal
but its existence and, for its own bidder, its receipt; the committee's names after the award."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.tenders.sealing import documents_digest

OPENED = ("opened", "candidates", "awarded", "contracted")
RANKED = ("candidates", "awarded", "contracted")
AWARDED = ("awarded", "contracted")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def summary_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "reference_no": row["reference_no"], "title": row["title"], "status": row["status"],
        "owner_id": row["owner_id"], "owner_name": row["owner_name"], "estimate": row["estimate"],
        "currency": row["currency"].strip(), "evaluation": row["evaluation"], "deadline": _iso(row["deadline"]),
        "published_at": _iso(row["published_at"]),
    }


def tender_view(row: asyncpg.Record, proposals: list[asyncpg.Record], questions: list[asyncpg.Record]) -> dict[str, Any]:
    status = row["status"]
    view = summary_view(row) | {
        "summary": row["summary"], "documents": row["documents"], "price_weight": row["price_weight"],
        "security_amount": row["security_amount"], "documents_issued_at": _iso(row["documents_issued_at"]),
        "questions_until": _iso(row["questions_until"]), "return_reasons": row["return_reasons"],
        "retender_of": row["retender_of"], "proposals": len(proposals), "opened_at": _iso(row["opened_at"]),
        "questions": [question_view(q) for q in questions],
        "opening": None, "candidates": None, "candidates_until": _iso(row["candidates_until"]),
        "committee_size": len(row["committee"] or []), "committee": None, "award": None,
    }
    if status in OPENED:
        view["opening"] = [opened_view(p) for p in proposals]
    if status in RANKED:
        view["candidates"] = row["candidates"]
    if status in AWARDED:
        view["committee"] = row["committee"]
        view["award"] = {
            "bidder_id": row["winner_id"], "price": row["award_price"], "awarded_at": _iso(row["awarded_at"]),
            "contract_due": _iso(row["contract_due"]), "contracted_at": _iso(row["contracted_at"]),
            "contract_note": row["contract_note"],
        }
    return view


def opened_view(p: asyncpg.Record) -> dict[str, Any]:
    """A proposal as published at the opening: bidder, price and what lets anyone check the receipt."""
    revealed = p["revealed_at"] is not None
    return {
        "bidder_id": p["bidder_id"], "bidder_name": p["bidder_name"], "price": p["price"],
        "commitment": p["commitment"], "nonce": p["nonce"], "submitted_at": _iso(p["submitted_at"]),
        "documents_digest": documents_digest(p["technical"]) if revealed else None, "revealed": revealed,
    }


def question_view(q: asyncpg.Record) -> dict[str, Any]:
    """Askers are not named: a tender's owner must not learn who its bidders are before the opening."""
    return {
        "id": q["id"], "kind": q["kind"], "stage": q["stage"], "body": q["body"], "asked_at": _iso(q["asked_at"]),
        "answer": q["answer"], "answered_at": _iso(q["answered_at"]), "answer_due": _iso(q["answer_due"]),
    }


def receipt_view(tender: asyncpg.Record, proposal: asyncpg.Record, code: str | None, replayed: bool) -> dict[str, Any]:
    return {
        "tender_id": tender["id"], "reference_no": tender["reference_no"], "bidder_code": code,
        "commitment": proposal["commitment"], "submitted_at": _iso(proposal["submitted_at"]), "replayed": replayed,
    }


def security_view(s: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": s["id"], "tender_id": s["tender_id"], "reference_no": s["reference_no"], "title": s["title"],
        "bidder_id": s["bidder_id"], "bidder_name": s["bidder_name"], "amount": s["amount"],
        "currency": s["currency"].strip(), "reference_code": s["reference_code"], "status": s["status"],
        "held_at": _iso(s["held_at"]), "refunded_at": _iso(s["refunded_at"]), "payout_id": s["payout_id"],
    }
