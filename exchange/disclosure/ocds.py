"""Disclosure records as Open Contracting Data Standard (OCDS 1.1) releases, one package per procedure.

Each package names its absolute `uri` (EXCHANGE_PUBLIC_URL, else the address it was asked at)
and the OCDS extensions its releases use (bids, enquiries). An ocid is the publisher's prefix
and the procedure's reference: EXCHANGE_OCID_PREFIX is the prefix the Open Contracting
Partnership registered for this exchange (`ocds-` and six characters; README, "OCDS release
packages").

A listing is one contracting process (ocid `<prefix>-<reference>`): its announcement is
planning, the auction notice the tender, a failed auction a tender update, the deal
announcement the award, the transaction certificate the contract and its implementation
(the payment), an objection ruling implementation. The exchange sells for the seller, so
the seller is the procuring entity and the winning investor the tenderer the award goes to.

A tender (招标, ocid `<prefix>-ZB…`) buys for its owner, the buyer and procuring entity: its
announcement is the tender, the opening a tender update with the bids (bid extension), an
objection's answer a tender or award update (enquiries extension), the candidates pending
awards, the award the active award with its contract pending until signed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchange.disclosure.types import Kind, Record, instant

log = logging.getLogger(__name__)

OCID_PREFIX = "ocds-tte"
"""Not a registered prefix: an exchange publishing OCDS registers its own (EXCHANGE_OCID_PREFIX)."""
EXTENSIONS = [
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_enquiry_extension/v1.1.5/extension.json",
]
"""The releases carry `bids` (a tender's or a quote round's opening) and `tender.enquiries`
(objections and their answers), which OCDS 1.1 defines in these extensions."""
PUBLISHER = {"name": "Technology Transfer Exchange 科技成果交易所"}
TAGS: dict[str, list[str]] = {
    Kind.LISTING_ANNOUNCEMENT: ["planning"],
    Kind.AUCTION_NOTICE: ["tender"],
    Kind.AUCTION_FAILED: ["tenderUpdate"],
    Kind.DEAL_ANNOUNCEMENT: ["award"],
    Kind.TRANSACTION_CERTIFICATE: ["contract", "implementation"],
    Kind.OBJECTION_OUTCOME: ["implementation"],
    Kind.TENDER_ANNOUNCEMENT: ["tender"],
    Kind.TENDER_OPENING: ["tenderUpdate"],
    Kind.TENDER_CANDIDATES: ["award"],
    Kind.TENDER_AWARD: ["award", "contract"],
    Kind.TENDER_OBJECTION_OUTCOME: ["tenderUpdate"],
    Kind.PROBLEM_MILESTONE_ACCEPTED: ["implementation"],
    Kind.PROBLEM_ARBITRATION: ["implementation"],
    Kind.AGREEMENT_NOTICE: ["tender"],
    Kind.AGREEMENT_OBJECTION_OUTCOME: ["tenderUpdate"],
    Kind.AGREEMENT_CLEARED: ["tenderUpdate"],
    Kind.QUOTE_OPENING: ["tenderUpdate"],
    Kind.LISTING_CHANGE: ["tenderAmendment"],
    Kind.LISTING_EXTENSION: ["tenderAmendment"],
    Kind.LISTING_SUSPENSION: ["tenderUpdate"],
    Kind.LISTING_RESUMPTION: ["tenderUpdate"],
    Kind.LISTING_OUTCOME: ["tenderUpdate"],
}
TENDER_KINDS = {Kind.TENDER_ANNOUNCEMENT, Kind.TENDER_OPENING, Kind.TENDER_CANDIDATES, Kind.TENDER_AWARD,
                Kind.TENDER_OBJECTION_OUTCOME, Kind.PROBLEM_MILESTONE_ACCEPTED, Kind.PROBLEM_ARBITRATION}
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


def _org(name: str) -> dict[str, str]:
    return {"id": name, "name": name}


def _tender_parties(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The owner buys; bidders named at the opening or as candidates are tenderers, the winner the supplier."""
    found = [_party(body["owner"], ["buyer", "procuringEntity"])]
    bidders = [p["bidder"] for p in body.get("proposals") or []] + [c["bidder"] for c in body.get("candidates") or []]
    found += [_party(name, ["tenderer"]) for name in dict.fromkeys(bidders) if name != body.get("winner")]
    if body.get("winner"):
        found.append(_party(body["winner"], ["tenderer", "supplier"]))
    return found


def _tender_sections(kind: str, body: dict[str, Any], tender: dict[str, Any]) -> dict[str, Any]:
    currency, ref = str(body["currency"]), tender["items"][0]["id"]
    if kind == Kind.TENDER_ANNOUNCEMENT:
        evaluation = body["evaluation"]
        return {"tender": tender | {
            "status": "active", "procurementMethod": "open", "description": body["summary"],
            "procurementMethodDetails": "招标 tender: sealed proposals opened at the deadline, committee evaluation",
            "submissionMethod": ["electronicSubmission"], "value": value(body["estimate"], currency),
            "awardCriteria": "priceOnly" if evaluation["method"] == "price" else "ratedCriteria",
            "awardCriteriaDetails": f"price weight {evaluation['price_weight_bp'] / 100:g}%",
            "tenderPeriod": {"startDate": body["documents_issued_at"], "endDate": body["deadline"]},
            "enquiryPeriod": {"startDate": body["documents_issued_at"], "endDate": body["questions_until"]},
            "documents": [{"id": f"{ref}-doc-{n}", "title": d["title"], "description": d["description"]}
                          for n, d in enumerate(body["documents"], start=1)]}}
    if kind == Kind.TENDER_OPENING:
        bids = body["proposals"]
        return {"tender": tender | {"status": "complete" if body["opened"] else "unsuccessful",
                                    "numberOfTenderers": body["proposals_received"],
                                    "tenderers": [_org(p["bidder"]) for p in bids]},
                "bids": {"details": [{"id": p["commitment"], "date": p["submitted_at"],
                                      "status": "valid" if p["revealed"] else "disqualified",
                                      "tenderers": [_org(p["bidder"])], "value": value(p["price"], currency)}
                                     for p in bids]}}
    if kind == Kind.TENDER_CANDIDATES:
        return {"awards": [{"id": f"{ref}-candidate-{c['rank']}", "status": "pending", "date": body["ranked_at"],
                            "title": f"Candidate ranked {c['rank']}", "value": value(c["price"], currency),
                            "suppliers": [_org(c["bidder"])]} for c in body["candidates"]]}
    if kind == Kind.TENDER_AWARD:
        award = {"id": f"{ref}-AWARD", "status": "active", "date": body["awarded_at"],
                 "value": value(body["amount"], currency), "suppliers": [_org(body["winner"])]}
        return {"awards": [award], "contracts": [{
            "id": f"{ref}-CONTRACT", "awardID": award["id"], "status": "pending", "value": award["value"],
            "description": f"to be signed by {body['contract_due']}"}]}
    if kind in (Kind.PROBLEM_MILESTONE_ACCEPTED, Kind.PROBLEM_ARBITRATION):
        return _problem_sections(kind, body, ref)
    return {"tender": tender | {"enquiries": [{
        "id": f"{ref}-objection-{body['objection_no']}", "date": body["objected_at"], "title": f"Objection ({body['stage']})",
        "description": body["objection"], "answer": body["answer"], "dateAnswered": body["answered_at"]}]}}


def _problem_sections(kind: str, body: dict[str, Any], ref: str) -> dict[str, Any]:
    """A problem tender's milestones are the contract's implementation milestones; a paid one also a transaction."""
    m, currency = body["milestone"], str(body["currency"])
    milestone: dict[str, Any] = {"id": f"{ref}-M{m['seq']}", "title": m["title"], "type": "delivery",
                                 "dueDate": m["due_on"], "value": value(m["share"], currency)}
    implementation: dict[str, Any] = {"milestones": [milestone]}
    if kind == Kind.PROBLEM_ARBITRATION:
        milestone |= {"status": "met" if body["outcome"] == "release" else "notMet", "code": body["outcome"],
                      "description": body["ruling"], "dateModified": body["ruled_at"]}
    else:
        milestone |= {"status": "met", "dateMet": body["accepted_at"]}
        implementation["transactions"] = [{
            "id": f"{ref}-M{m['seq']}-payment", "date": body["accepted_at"], "value": value(m["share"], currency),
            "payer": _org(body["owner"]), "payee": _org(body["winner"])}]
    return {"contracts": [{"id": f"{ref}-CONTRACT", "awardID": f"{ref}-AWARD", "implementation": implementation}]}


def _agreement_sections(kind: str, body: dict[str, Any], tender: dict[str, Any]) -> dict[str, Any]:
    """协议定价公示: a limited (single-buyer) procedure; the notice period is its tender period,
    each objection's answer an enquiry, the clearance completes it (the deal is its award)."""
    notice = body["notice"]
    period = {"startDate": notice["start"], "endDate": notice["end"]}
    if kind == Kind.AGREEMENT_NOTICE:
        return {"tender": tender | {
            "status": "active", "procurementMethod": "limited", "value": value(body["price"], str(body["currency"])),
            "procurementMethodDetails": "协议定价 agreement pricing with a public notice; related party: "
                                        + ("yes" if body["related_party"]["flag"] else "no"),
            "description": body["item"].get("summary"), "tenderPeriod": period,
            "enquiryPeriod": period, "submissionMethodDetails": body["objection_procedure"]}}
    if kind == Kind.AGREEMENT_CLEARED:
        return {"tender": tender | {"status": "complete", "tenderPeriod": period}}
    objection = body["objection"]
    return {"tender": tender | {"status": "cancelled" if body["outcome"] == "upheld" else "active", "enquiries": [{
        "id": f"{tender['items'][0]['id']}-objection-{objection['no']}", "date": objection["filed_at"],
        "title": f"Objection ({body['outcome']})", "description": objection["grounds"], "answer": body["answer"],
        "dateAnswered": body["answered_at"]}]}}


def _parties(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("owner"):
        return _tender_parties(body)
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
    if kind in TENDER_KINDS:
        return _tender_sections(kind, body, tender)
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
    if kind in (Kind.AGREEMENT_NOTICE, Kind.AGREEMENT_OBJECTION_OUTCOME, Kind.AGREEMENT_CLEARED):
        return _agreement_sections(kind, body, tender)
    if kind == Kind.QUOTE_OPENING:  # 一次性报价 / 综合评议: the sealed quotes as bids
        return {"tender": tender | {"status": "complete" if body["opened"] else "unsuccessful",
                                    "numberOfTenderers": body["proposals_received"]},
                "bids": {"details": [{"id": p["commitment"], "date": p["submitted_at"], "status": "valid",
                                      "tenderers": [_org(p["bidder"])], "value": value(p["price"], currency)}
                                     for p in body["proposals"]]}}
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


@dataclass(frozen=True)
class Publication:
    """Where the packages live and whose ocids they carry."""

    ocid_prefix: str = OCID_PREFIX
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Publication:
        prefix = env.get("EXCHANGE_OCID_PREFIX", "").strip() or OCID_PREFIX
        public = env.get("EXCHANGE_PUBLIC_URL", "").strip().rstrip("/") or None
        if public is not None and not public.startswith(("https://", "http://")):
            raise SystemExit(f"EXCHANGE_PUBLIC_URL must be an absolute http(s) URL, got {public!r}")
        return cls(prefix, public)


def release(procedure: str, record: Record, prefix: str = OCID_PREFIX) -> dict[str, Any]:
    ocid = f"{prefix}-{procedure}"
    body = record.body
    item = body.get("item") or (body.get("certificate") or {}).get("item") or {}
    return {
        "ocid": ocid, "id": f"{ocid}-{record.seq}", "date": instant(record.published_at),
        "tag": ["awardUpdate"] if record.kind == Kind.TENDER_OBJECTION_OUTCOME and body["stage"] == "candidates"
        else TAGS[record.kind],
        "initiationType": "tender", "language": "zh",
        "parties": _parties(body),
        "disclosure": {"seq": record.seq, "kind": record.kind, "hash": record.hash, "prev_hash": record.prev_hash,
                       "corrects": record.corrects, "open_until": instant(record.open_until)},
    } | _sections(record.kind, body, item | {"reference_no": item.get("reference_no", procedure)}, ocid)


def _release_or_bare(procedure: str, record: Record, prefix: str) -> dict[str, Any]:
    """A record whose content cannot be mapped (one published before corrections were checked
    against their kind) still appears, with what every release has, never failing the export."""
    try:
        return release(procedure, record, prefix)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        log.warning("disclosure record %d cannot be mapped to OCDS fully (%r); released bare", record.seq, exc)
        ocid = f"{prefix}-{procedure}"
        return {"ocid": ocid, "id": f"{ocid}-{record.seq}", "date": instant(record.published_at),
                "tag": TAGS[record.kind], "initiationType": "tender", "language": "zh",
                "disclosure": {"seq": record.seq, "kind": record.kind, "hash": record.hash,
                               "prev_hash": record.prev_hash, "corrects": record.corrects,
                               "open_until": instant(record.open_until)}}


def release_package(procedure: str, records: list[Record], now: datetime, *, base_url: str,
                    prefix: str = OCID_PREFIX) -> dict[str, Any]:
    """`base_url`: the exchange's public address (the package's `uri` is absolute)."""
    return {
        "uri": f"{base_url.rstrip('/')}/api/disclosures/ocds/{procedure}", "version": "1.1",
        "extensions": EXTENSIONS, "publishedDate": instant(now), "publisher": PUBLISHER,
        "releases": [_release_or_bare(procedure, r, prefix) for r in records],
    }
