"""What each party sees of a problem tender (JSON-ready): everyone the milestones and their
status; the owner, the solver and operators the deliverables and the steps; the owner its
escrow, the solver its payouts (parties see their own money, nobody else's)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def milestone_view(m: asyncpg.Record, party: bool) -> dict[str, Any]:
    view = {
        "seq": m["seq"], "title": m["title"], "criteria": m["criteria"], "share": m["share"],
        "due_on": _iso(m["due_on"]), "status": m["status"], "submitted_at": _iso(m["submitted_at"]),
        "window_until": _iso(m["window_until"]), "accepted_at": _iso(m["accepted_at"]),
        "released_by": m["released_by"], "deliverable": None,
    }
    if party:
        view["deliverable"] = m["deliverable"]
    return view


def problem_view(p: asyncpg.Record, milestones: list[asyncpg.Record], steps: list[asyncpg.Record], *,
                 owner: bool, solver: bool, operator: bool, held: int, window_days: int) -> dict[str, Any]:
    party = owner or solver or operator
    view: dict[str, Any] = {
        "tender_id": p["tender_id"], "reference_no": p["reference_no"], "title": p["tender_title"],
        "tender_status": p["tender_status"], "status": p["status"], "budget": p["budget"],
        "currency": p["currency"].strip(), "owner_id": p["owner_id"], "owner_name": p["owner_name"],
        "solver_id": p["winner_id"], "solver_name": p["solver_name"], "acceptance_working_days": window_days,
        "funded_at": _iso(p["funded_at"]), "closed_at": _iso(p["closed_at"]),
        "milestones": [milestone_view(m, party) for m in milestones],
        "steps": None, "escrow": None, "payouts": None,
        "viewer": {"owner": owner, "solver": solver, "operator": operator},
    }
    if party:
        view["steps"] = [{"seq": s["seq"], "step": s["step"], "actor_name": s["actor_name"], "note": s["note"],
                          "at": _iso(s["at"])} for s in steps]
    if owner or operator:
        view["escrow"] = {"reference_code": p["reference_code"], "amount": p["budget"], "held": held,
                          "refunded": p["refunded"], "refund_payout_id": p["refund_payout_id"]}
    if solver or operator:
        view["payouts"] = [{"seq": m["seq"], "amount": m["share"], "payout_id": m["payout_id"],
                            "status": m["payout_status"]} for m in milestones if m["payout_id"] is not None]
    return view


def escrow_row(p: asyncpg.Record) -> dict[str, Any]:
    return {
        "tender_id": p["tender_id"], "reference_no": p["reference_no"], "title": p["tender_title"],
        "owner_name": p["owner_name"], "budget": p["budget"], "currency": p["currency"].strip(),
        "reference_code": p["reference_code"], "status": p["status"], "tender_status": p["tender_status"],
    }
