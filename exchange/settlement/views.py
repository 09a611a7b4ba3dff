"""What parties see of deposits, trades, payouts and ledger lines (JSON-ready dictionaries)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import asyncpg

from exchange.ledger.types import Transfer
from exchange.settlement.moves import balance_due


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def deposit_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "auction_id": row["auction_id"], "listing_id": row["listing_id"],
        "investor_id": row["investor_id"],
        "investor_name": row["investor_name"], "amount": row["amount"], "currency": row["currency"].strip(),
        "reference_code": row["reference_code"], "status": row["status"], "provider": row["provider"],
        "due_at": _iso(row["due_at"]), "held_at": _iso(row["held_at"]), "resolved_at": _iso(row["resolved_at"]),
        "listing_reference": row["reference_no"], "title": row["title"], "title_en": row["title_en"],
        "card_pending": row["card_action"],
        "refund": row["refund_status"], "refunded_at": _iso(row["refund_sent_at"]),
    }


def trade_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "auction_id": row["auction_id"], "round": row["round"],
        "listing_id": row["listing_id"], "agreement_id": row["agreement_id"], "method": row["method"],
        "listing_reference": row["reference_no"],
        "title": row["title"], "title_en": row["title_en"],
        "seller_id": row["seller_id"], "seller_name": row["seller_name"],
        "buyer_id": row["buyer_id"], "buyer_name": row["buyer_name"],
        "price": row["price"], "currency": row["currency"].strip(), "deposit_applied": row["deposit_applied"],
        "buyer_fee": row["buyer_fee"], "seller_fee": row["seller_fee"], "balance_due": balance_due(row),
        "reference_code": row["reference_code"], "status": row["status"],
        "contract_due": _iso(row["contract_due"]), "balance_due_at": _iso(row["balance_due"]),
        "contract_confirmed_at": _iso(row["contract_confirmed_at"]),
        "balance_paid_at": _iso(row["balance_paid_at"]), "delivered_at": _iso(row["delivered_at"]),
        "delivery_note": row["delivery_note"], "objection_due": _iso(row["objection_due"]),
        "accepted_at": _iso(row["accepted_at"]), "released_at": _iso(row["released_at"]),
        "forfeited_at": _iso(row["forfeited_at"]), "forfeit_reason": row["forfeit_reason"],
        "next_step": row["next_step"], "objection": row["objection"], "objected_at": _iso(row["objected_at"]),
        "objection_outcome": row["objection_outcome"], "objection_ruling": row["objection_ruling"],
        "certificate_no": row["certificate_no"],
        "created_at": _iso(row["created_at"]),
    }


def payout_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "payee_id": row["payee_id"], "payee_name": row["payee_name"],
        "purpose": row["purpose"], "amount": row["amount"], "currency": row["currency"].strip(),
        "provider": row["provider"], "status": row["status"], "trade_id": row["trade_id"],
        "deposit_id": row["deposit_id"], "transfer_id": row["transfer_id"],
        "external_ref": row["external_ref"], "created_at": _iso(row["created_at"]),
        "sent_at": _iso(row["sent_at"]),
    }


def payment_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "provider": row["provider"], "external_ref": row["external_ref"],
        "purpose": row["purpose"], "amount": row["amount"], "currency": row["currency"].strip(),
        "deposit_id": row["deposit_id"], "trade_id": row["trade_id"], "transfer_id": row["transfer_id"],
        "received_at": _iso(row["received_at"]),
    }


def transfer_kind(transfer_id: str) -> str:
    """What a ledger transfer did, read from its id (e.g. `deposit:7:hold` -> `deposit_hold`,
    `trade:3:refund-balance` -> `trade_refund`), for telling a party in words; `other` if unknown."""
    parts = transfer_id.split(":")
    if parts[0] == "payment":
        return "payment"
    if parts[0] not in ("deposit", "trade") or len(parts) < 3:
        return "other"
    step = re.sub(r"^(rescind|refund)-.*$", r"\1", parts[2])
    step = re.sub(r"^payout.*$", "payout", step)
    kind = f"{parts[0]}_{step.replace('-', '_')}"
    return kind if kind in TRANSFER_KINDS else "other"


TRANSFER_KINDS = (
    "deposit_hold", "deposit_release", "deposit_refund", "deposit_apply", "deposit_excess", "deposit_excess_refund",
    "trade_deposit", "trade_balance", "trade_commission", "trade_proceeds", "trade_payout", "trade_forfeit_seller",
    "trade_forfeit_payout", "trade_forfeit_exchange", "trade_rescind", "trade_refund",
)


def transfer_view(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id, "kind": transfer_kind(transfer.id), "flow": transfer.flow.value, "debit": transfer.debit_account,
        "credit": transfer.credit_account, "amount": transfer.amount, "currency": transfer.currency.strip(),
        "pending_id": transfer.pending_id, "memo": transfer.memo, "deposit_id": transfer.deposit_id,
        "trade_id": transfer.trade_id, "created_at": transfer.created_at.isoformat(),
    }
