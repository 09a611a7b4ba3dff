"""What each party sees of a quote round (JSON-ready). Before the opening nothing of a quote
but how many arrived and, for its own bidder, the receipt; plans only to the evaluation panel
(operators) and their own bidder."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.quotes.types import POINTS
from exchange.tenders.sealing import documents_digest


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def listing_view(listing: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": listing["id"], "reference_no": listing["reference_no"], "title": listing["title"],
        "title_en": listing["title_en"], "status": listing["status"], "seller_id": listing["seller_id"],
        "seller_name": listing["seller_name"], "listing_price": listing["listing_price"],
        "currency": listing["currency"].strip(), "deposit": listing["deposit"],
        "method": listing["competitive_method"], "price_weight_bp": listing["price_weight_bp"],
    }


def round_view(round_: asyncpg.Record, proposals: list[asyncpg.Record], viewer_id: int | None,
               staff: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": round_["id"], "method": round_["method"], "price_weight_bp": round_["price_weight_bp"],
        "status": round_["status"], "opens_at": iso(round_["opens_at"]), "deadline": iso(round_["deadline"]),
        "proposals": len(proposals), "opened_at": iso(round_["opened_at"]), "awarded_at": iso(round_["awarded_at"]),
        "opening": None, "result": None,
    }
    if round_["opened_at"] is not None:
        view["opening"] = [opened_view(p, staff or p["investor_id"] == viewer_id) for p in proposals
                           if p["revealed_at"] is not None]
    if round_["status"] == "awarded":
        winner = next(p for p in proposals if p["investor_id"] == round_["winner_id"])
        view["result"] = {"winner_id": round_["winner_id"], "winner_name": winner["bidder_name"],
                          "price": round_["price"], "awarded_at": iso(round_["awarded_at"])}
    return view


def opened_view(p: asyncpg.Record, with_plan: bool) -> dict[str, Any]:
    """A quote as published at the opening: bidder, price and what lets anyone check the receipt."""
    technical = p["technical_score"]
    return {
        "bidder_id": p["investor_id"], "bidder_name": p["bidder_name"], "price": p["price"],
        "commitment": p["commitment"], "nonce": p["nonce"], "plan_digest": documents_digest(p["plan"]),
        "submitted_at": iso(p["submitted_at"]), "plan": p["plan"] if with_plan else None,
        "technical_score": None if technical is None else technical // POINTS,
        "total_score": p["total_score"], "rank": p["rank"],
    }


def receipt_view(listing: asyncpg.Record, proposal: asyncpg.Record, replayed: bool) -> dict[str, Any]:
    return {
        "listing_id": listing["id"], "reference_no": listing["reference_no"], "commitment": proposal["commitment"],
        "submitted_at": iso(proposal["submitted_at"]), "replayed": replayed,
    }
