"""Disclosure records as Open Contracting Data Standard (OCDS 1.1) releases, one package per procedure.

A listing is one contracting process (ocid `ocds-tte-<reference>`): its announcement is
planning, the auction notice the tender, a failed auction a tender update, the deal
announcement the award, the transaction certificate the contract and its implementation
(the payment), an objection ruling implementation. The exchange sells for the seller, so
the seller is the procuring entity and the winning investor the tenderer the award goes to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchange.disclosure.types import Kind, Record, instant

OCID_PREFIX = "ocds-tte-"
PUBLISHER = {"name": "Technology Transfer Exchange 科技成果交易所"}
TAGS: dict[str, list[str]] = {
    Kind.LISTING_ANNOUNCEMENT: ["planning"],
    Kind.AUCTION_NOTICE: ["tender"],
    Kind.AUCTION_FAILED: ["tenderUpdate"],
    Kind.DEAL_ANNOUNCEMENT: ["award"],
    Kind.TRANSACTION_CERTIFICATE: ["contract", "implementation"],
    Kind.OBJECTION_OUTCOME: ["implementation"],
    Kind.TENDER_CANDIDATES: ["award"],
    Kind.TENDER_AWARD: ["award"],
}
MINOR_UNITS = {"JPY": 0, "KRW": 0}  # every other currency the exchange takes has 2 decimals


def value(minor: int | None, currency: str) -> dict[str, Any] | None:
    """Minor units (fen, cents) as an OCDS value in major units."""
    if minor is None:
        return None
    scale = 10 ** MINOR_UNITS.get(currency, 2)
    whole, part = divmod(minor, scale)
    return {"amount": whole if part == 0 else minor / scale, "currency": currency}


def _party(name: str, roles: list[str]) -> dict[str, Any]:
    return {"id": name, "name": name, "roles": roles}


def _parties(body: dict[str, Any]) -> list[dict[str, Any]]:
    parties = body.get("parties") or {}
    seller = body.get("seller") or parties.get("seller") or (body.get("certificate") or {}).get("parties", {}).get("seller")
    buyer = parties.get("buyer") or (body.get("certificate") or {}).get("parties", {}).get("buyer")
    found = [_party(seller, ["procuringEntity"])] if seller else []
    if buyer:
        found.append(_party(buyer, ["tenderer", "supplier"]))
    return found


def _sections(kind: str, body: dict[str, Any], item: dict[str, Any], ocid: str) -> dict[str, Any]:
    currency = str(body.get("currency") or (body.get("certificate") or {}).get("currency") or "CNY")
    tender = {"id": ocid, "title": item.get("title"), "items": [{
        "id": item.get("reference_no"), "description": item.get("title_en") or item.get("title")}]}
    if kind == Kind.LISTING_ANNOUNCEMENT:
        announcement = body["announcement"]
        return {"planning": {"rationale": body.get("terms"), "budget": {"amount": value(body["listing_price"], currency)}},
                "tender": tender | {"status": "planned", "value": value(body["listing_price"], currency),
                                    "description": item.get("summary"), "eligibilityCriteria": body.get("bidder_conditions"),
                                    "tenderPeriod": {"startDate": announcement["start"], "endDate": announcement["end"]}}}
    if kind == Kind.AUCTION_NOTICE:
        return {"tender": tender | {
            "status": "active", "procurementMethod": "open", "procurementMethodDetails": "English auction (网络竞价)",
            "submissionMethod": ["electronicAuction"], "awardCriteria": "priceOnly",
            "minValue": value(body["start_price"], currency),
            "tenderPeriod": {"startDate": body["time"]["opens_at"], "endDate": body["time"]["scheduled_end"]}}}
    if kind == Kind.AUCTION_FAILED:
        return {"tender": tender | {"status": "unsuccessful", "minValue": value(body["start_price"], currency)}}
    if kind == Kind.DEAL_ANNOUNCEMENT:
        buyer = body["parties"]["buyer"]
        return {"awards": [{"id": body["trade_reference"], "status": "active", "date": body["deal_at"],
                            "value": value(body["price"], currency), "suppliers": [{"id": buyer, "name": buyer}]}]}
    if kind == Kind.TRANSACTION_CERTIFICATE:
        cert = body["certificate"]
        parties = cert["parties"]
        return {"contracts": [{
            "id": cert["certificate_no"], "awardID": cert["trade_reference"], "status": "terminated",
            "value": value(cert["price"], currency), "dateSigned": cert["dates"]["deal"],
            "implementation": {"transactions": [{
                "id": cert["trade_reference"], "date": cert["dates"]["paid"], "value": value(cert["price"], currency),
                "payer": {"id": parties["buyer"], "name": parties["buyer"]},
                "payee": {"id": parties["seller"], "name": parties["seller"]}}]}}]}
    if kind != Kind.OBJECTION_OUTCOME:
        return {}
    return {"contracts": [{"id": body["trade_reference"], "awardID": body["trade_reference"], "implementation": {
        "milestones": [{"id": f"{body['trade_reference']}-objection", "title": "Objection to the delivery",
                        "description": body["ruling"], "status": "met", "dateMet": body["ruled_at"],
                        "type": "delivery", "code": body["outcome"]}]}}]}


def release(procedure: str, record: Record) -> dict[str, Any]:
    ocid = OCID_PREFIX + procedure
    body = record.body
    item = body.get("item") or (body.get("certificate") or {}).get("item") or {}
    return {
        "ocid": ocid, "id": f"{ocid}-{record.seq}", "date": instant(record.published_at),
        "tag": TAGS[record.kind], "initiationType": "tender", "language": "zh",
        "parties": _parties(body),
        "disclosure": {"seq": record.seq, "kind": record.kind, "hash": record.hash, "prev_hash": record.prev_hash,
                       "corrects": record.corrects, "open_until": instant(record.open_until)},
    } | _sections(record.kind, body, item | {"reference_no": item.get("reference_no", procedure)}, ocid)


def release_package(procedure: str, records: list[Record], now: datetime) -> dict[str, Any]:
    return {
        "uri": f"/api/disclosures/ocds/{procedure}", "version": "1.1", "publishedDate": instant(now),
        "publisher": PUBLISHER, "releases": [release(procedure, r) for r in records],
    }
