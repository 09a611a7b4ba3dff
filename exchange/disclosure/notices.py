"""The notice of each public fact, built from the rows its service just wrote (same transaction).

Fields follow DOMAIN.md's table "Disclosures (what is published, for how long)"; each
notice carries the end of its objection window where the table gives a minimum period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exchange.calendar import WorkingDayCalendar
from exchange.disclosure.types import Kind, Notice, instant
from exchange.infra.db import Conn
from exchange.listings import repository as listings
from exchange.listings.types import ListingStatus

DEAL_ANNOUNCEMENT_WD = 5  # a deal announcement runs at least 5 working days

_AUCTION = """SELECT a.id, a.start_price, a.reserve, a.increments, a.opens_at, a.scheduled_end, a.quiet_period_s,
       a.hard_cap, a.status, a.sold, a.price, a.closed_at, a.currency, l.reference_no, l.deposit,
       l.competitive_method, l.transfer_mode, ach.title, ach.title_en, ach.appraised_value, s.display_name AS seller
  FROM auctions a JOIN listings l ON l.id = a.listing_id JOIN achievements ach ON ach.id = l.achievement_id
  JOIN accounts s ON s.id = l.seller_id WHERE a.id = $1"""

_TRADE = """SELECT t.id, t.auction_id, t.round, t.price, t.currency, t.reference_code, t.objection, t.objected_at,
       t.objection_outcome, t.objection_ruling, t.status, t.method, t.created_at,
       COALESCE(a.start_price, l.listing_price) AS start_price, a.reserve, a.closed_at,
       COALESCE(l.reference_no, g.reference_no) AS reference_no,
       COALESCE(l.transfer_mode, g.transfer_mode) AS transfer_mode, ach.title, ach.title_en, ach.appraised_value,
       s.display_name AS seller, b.display_name AS buyer, ab.code AS buyer_code
  FROM trades t LEFT JOIN auctions a ON a.id = t.auction_id LEFT JOIN listings l ON l.id = t.listing_id
  LEFT JOIN agreements g ON g.id = t.agreement_id
  JOIN achievements ach ON ach.id = t.achievement_id JOIN accounts s ON s.id = t.seller_id
  JOIN accounts b ON b.id = t.buyer_id
  LEFT JOIN auction_bidders ab ON ab.auction_id = t.auction_id AND ab.account_id = t.buyer_id
 WHERE t.id = $1"""


def _item(row: Any) -> dict[str, Any]:
    return {"reference_no": row["reference_no"], "title": row["title"], "title_en": row["title_en"]}


async def listing_announcement(conn: Conn, listing_id: int, now: datetime) -> Notice | None:
    """挂牌公告: item, terms, conditions, deposit, method; open for the announcement period."""
    listing = await listings.get(conn, listing_id)
    if listing is None or listing.status != ListingStatus.ANNOUNCED:
        return None
    return Notice(
        kind=Kind.LISTING_ANNOUNCEMENT, procedure=listing.reference_no, subject=listing.reference_no,
        published_at=now, open_until=listing.announcement_end,
        body={
            "item": {
                "reference_no": listing.reference_no, "title": listing.title, "title_en": listing.title_en,
                "summary": listing.summary, "summary_en": listing.summary_en, "field": listing.field,
                "kind": listing.kind, "ip_identifiers": list(listing.ip_identifiers),
                "inventors": list(listing.inventors), "funding_source": listing.funding_source,
                "programme": listing.programme, "maturity": listing.maturity,
            },
            "seller": listing.seller_name, "appraisal": listing.appraised_value,
            "listing_price": listing.listing_price, "currency": listing.currency.strip(),
            "deposit": listing.deposit, "transfer_mode": listing.transfer_mode.value,
            "terms": listing.terms, "bidder_conditions": listing.bidder_conditions,
            "method": listing.competitive_method.value,
            "announcement": {"start": instant(listing.announcement_start), "end": instant(listing.announcement_end),
                             "working_days": listing.announcement_working_days},
        },
    )


async def auction_notice(conn: Conn, auction_id: int, now: datetime) -> Notice:
    """拍卖公告: time, item, start price, deposit, rules; public until the auction opens."""
    row = await conn.fetchrow(_AUCTION, auction_id)
    assert row is not None
    return Notice(
        kind=Kind.AUCTION_NOTICE, procedure=row["reference_no"], subject=f"AUCTION-{auction_id}",
        published_at=now, open_until=row["opens_at"],
        body={
            "auction_id": auction_id, "item": _item(row), "seller": row["seller"],
            "time": {"opens_at": instant(row["opens_at"]), "scheduled_end": instant(row["scheduled_end"]),
                     "hard_cap": instant(row["hard_cap"])},
            "start_price": row["start_price"], "currency": row["currency"].strip(), "deposit": row["deposit"],
            "rules": {"method": "english_auction", "increments": row["increments"],
                      "quiet_period_s": row["quiet_period_s"], "reserve_set": row["reserve"] is not None},
        },
    )


async def deal_announcement(conn: Conn, trade_id: int, now: datetime, calendar: WorkingDayCalendar) -> Notice:
    """成交公告: item, appraisal, floor, deal price, parties; open 5 working days."""
    row = await conn.fetchrow(_TRADE, trade_id)
    assert row is not None
    return Notice(
        kind=Kind.DEAL_ANNOUNCEMENT, procedure=row["reference_no"], subject=row["reference_code"],
        published_at=now, open_until=calendar.period_end(now, DEAL_ANNOUNCEMENT_WD),
        body={
            "auction_id": row["auction_id"], "round": row["round"], "trade_reference": row["reference_code"],
            "item": _item(row), "appraisal": row["appraised_value"], "start_price": row["start_price"],
            "floor": row["reserve"], "price": row["price"], "currency": row["currency"].strip(),
            "method": row["method"], "transfer_mode": row["transfer_mode"],
            "sold": True, "deal_at": instant(row["closed_at"] if row["round"] == 1 and row["closed_at"] else now),
            "parties": {"seller": row["seller"], "buyer": row["buyer"], "buyer_code": row["buyer_code"]},
        },
    )


async def auction_failed(conn: Conn, auction_id: int, now: datetime, calendar: WorkingDayCalendar) -> Notice | None:
    """流拍: the auction closed without a valid bid at or above the reserve (None when it sold)."""
    row = await conn.fetchrow(_AUCTION, auction_id)
    if row is None or row["status"] != "closed" or row["sold"]:
        return None
    return Notice(
        kind=Kind.AUCTION_FAILED, procedure=row["reference_no"], subject=f"AUCTION-{auction_id}",
        published_at=now, open_until=calendar.period_end(now, DEAL_ANNOUNCEMENT_WD),
        body={
            "auction_id": auction_id, "item": _item(row), "appraisal": row["appraised_value"],
            "start_price": row["start_price"], "floor": row["reserve"], "currency": row["currency"].strip(),
            "sold": False, "closed_at": instant(row["closed_at"]), "seller": row["seller"],
        },
    )


def transaction_certificate(number: str, body: dict[str, Any], digest: str, now: datetime) -> Notice:
    """交易凭证: published for good (no objection window)."""
    return Notice(
        kind=Kind.TRANSACTION_CERTIFICATE, procedure=str(body["project_no"]), subject=number, published_at=now,
        body={"certificate": body, "digest": digest},
    )


async def objection_outcome(conn: Conn, trade_id: int, now: datetime) -> Notice | None:
    """异议处理结果: the buyer's objection to the delivery and the operator's ruling."""
    row = await conn.fetchrow(_TRADE, trade_id)
    if row is None or row["objection_outcome"] is None:
        return None
    return Notice(
        kind=Kind.OBJECTION_OUTCOME, procedure=row["reference_no"], subject=f"{row['reference_code']}-RULING",
        published_at=now,
        body={
            "trade_reference": row["reference_code"], "item": _item(row),
            "parties": {"seller": row["seller"], "buyer": row["buyer"]},
            "objection": row["objection"], "objected_at": instant(row["objected_at"]),
            "outcome": row["objection_outcome"], "ruling": row["objection_ruling"], "ruled_at": instant(now),
        },
    )
