"""A listing's announcement period while it runs (DOMAIN.md Listing 3 and 6): the institution
extends it (at least 5 working days each time, also an unsold listing, which is announced
again), the operator suspends it (the clock pauses, at most a month) and resumes it (or the
sweep does when the month runs out), and the terms change only through a request the
operator approves, which restarts the period. Every step is published in its own transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.disclosure import repository as chain
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.infra.db import Conn, update_row
from exchange.infra.sweeper import Sweeper
from exchange.listings.change_types import (
    CHANGEABLE,
    ChangeDecision,
    ChangeRequestInput,
    ChangeRules,
    ExtensionInput,
    SuspensionInput,
)
from exchange.listings.types import CompetitiveMethod, TransferMode
from exchange.validation import FieldErrors, amount, choice, text

log = logging.getLogger(__name__)

ANNOUNCED, SUSPENDED, UNSOLD = "announced", "suspended", "unsold"
NOT_PUBLIC = ("submitted", "returned", "withdrawn")
HISTORY_KINDS = (disclosure.Kind.LISTING_EXTENSION, disclosure.Kind.LISTING_SUSPENSION,
                 disclosure.Kind.LISTING_RESUMPTION, disclosure.Kind.LISTING_CHANGE)
MIN_PRICE_WEIGHT_BP, MAX_PRICE_WEIGHT_BP = 1_000, 10_000
# An end at 24:00 belongs to the day it closes: an extension counts working days after that day.
_LAST_INSTANT = timedelta(microseconds=1)

_LISTING = """SELECT l.id, l.reference_no, l.seller_id, o.display_name AS seller_name, l.status, a.title, a.title_en,
       a.appraised_value, l.listing_price, l.currency, l.deposit, l.transfer_mode, l.competitive_method,
       l.price_weight_bp, l.terms, l.bidder_conditions, l.announcement_wd, l.announcement_start,
       l.announcement_end, l.extensions, l.suspended_at, l.resume_by, l.suspension_reason
  FROM listings l JOIN achievements a ON a.id = l.achievement_id JOIN accounts o ON o.id = l.seller_id
 WHERE l.id = $1"""

_CHANGES = """SELECT c.id, c.requested_at, c.changes, c.reasons, c.status, c.decided_at, c.decision_note,
       d.display_name AS decided_by_name
  FROM listing_changes c LEFT JOIN accounts d ON d.id = c.decided_by
 WHERE c.listing_id = $1 ORDER BY c.id"""


async def _locked(conn: Conn, listing_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(_LISTING + " FOR UPDATE OF l", listing_id)
    if row is None:
        raise NotFound("no such listing")
    return row


async def _own(conn: Conn, seller: Account, listing_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(_LISTING + " FOR UPDATE OF l", listing_id)
    if row is None or row["seller_id"] != seller.id:
        raise NotFound("no such listing among yours")
    return row


def _running(row: asyncpg.Record, now: datetime) -> bool:
    """Announced and its period not yet over."""
    return bool(row["status"] == ANNOUNCED and row["announcement_end"] is not None and now < row["announcement_end"])


def _proposed(form: ChangeRequestInput, row: asyncpg.Record) -> tuple[dict[str, dict[str, Any]], str]:
    """The requested terms that differ from the published ones, each with its old and new value."""
    errors = FieldErrors()
    reasons = text(errors, "reasons", form.reasons, max_len=2000, multiline=True)
    new: dict[str, Any] = {}
    if form.listing_price is not None:
        new["listing_price"] = amount(errors, "listing_price", form.listing_price)
    if form.deposit is not None:
        new["deposit"] = amount(errors, "deposit", form.deposit, allow_zero=True)
    if form.transfer_mode is not None:
        new["transfer_mode"] = choice(errors, "transfer_mode", form.transfer_mode, [m.value for m in TransferMode])
    if form.competitive_method is not None:
        new["competitive_method"] = choice(errors, "competitive_method", form.competitive_method,
                                           [m.value for m in CompetitiveMethod])
    if form.price_weight_bp is not None:
        weight = form.price_weight_bp
        if isinstance(weight, bool) or not MIN_PRICE_WEIGHT_BP <= weight <= MAX_PRICE_WEIGHT_BP:
            errors.add("price_weight_bp", f"basis points from {MIN_PRICE_WEIGHT_BP} (10%) to {MAX_PRICE_WEIGHT_BP} (100%)")
        new["price_weight_bp"] = weight
    if form.terms is not None:
        new["terms"] = text(errors, "terms", form.terms, max_len=5000, multiline=True)
    if form.bidder_conditions is not None:
        new["bidder_conditions"] = text(errors, "bidder_conditions", form.bidder_conditions, max_len=5000,
                                        multiline=True)
    if not {"listing_price", "deposit"} & set(errors.errors):
        for field, message in _price_problems(row, new).items():
            errors.add(field, message)
    errors.raise_if_any()
    changes = {field: {"from": row[field], "to": new[field]} for field in CHANGEABLE
               if field in new and new[field] != row[field]}
    if not changes:
        raise ValidationFailed("nothing to change: give at least one term that differs from the published one",
                               field_errors={"changes": "no term differs from the published listing"})
    return changes, reasons


def _price_problems(row: asyncpg.Record, new: dict[str, Any]) -> dict[str, str]:
    """The listing price stays at or above the appraisal, the deposit at or below the price."""
    price, deposit = new.get("listing_price", row["listing_price"]), new.get("deposit", row["deposit"])
    problems = {}
    if row["appraised_value"] is not None and price < row["appraised_value"]:
        problems["listing_price"] = "must not be below the appraised value of the achievement"
    if deposit > price:
        problems["deposit"] = "must not exceed the listing price"
    return problems


def _listing_view(row: asyncpg.Record) -> dict[str, Any]:
    view = {key: row[key] for key in (
        "id", "reference_no", "seller_id", "seller_name", "status", "title", "title_en", "appraised_value",
        "listing_price", "deposit", "transfer_mode", "competitive_method", "price_weight_bp", "terms",
        "bidder_conditions", "announcement_start", "announcement_end", "extensions", "suspended_at", "resume_by",
        "suspension_reason")}
    return view | {"currency": row["currency"].strip(), "announcement_working_days": row["announcement_wd"]}


def _change_view(row: asyncpg.Record) -> dict[str, Any]:
    return {key: row[key] for key in (
        "id", "requested_at", "changes", "reasons", "status", "decided_at", "decision_note", "decided_by_name")}


class ListingChangeService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar,
                 rules: ChangeRules | None = None) -> None:
        self.rules = rules or ChangeRules()
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._sweeper = Sweeper("listing change sweep", self.sweep, clock, lambda: self.rules.sweep_s)

    # -- the sweep -------------------------------------------------------------------------

    def start(self) -> None:
        """Sweeps at once (suspensions whose month ran out while the exchange was down), then periodically."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def sweep(self) -> dict[str, int]:
        """Resumes every suspension whose time is up, as of its resume_by: a suspension never
        pauses the clock longer than it was allowed to, however late the sweep runs."""
        now = self._clock.now()
        resumed = 0
        async with self._pool.acquire() as conn:
            due = await conn.fetch(
                "SELECT id FROM listings WHERE status = 'suspended' AND resume_by <= $1 ORDER BY id", now)
        for item in due:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await _locked(conn, item["id"])
                if row["status"] == SUSPENDED and row["resume_by"] <= now:
                    await self._resume(conn, row, row["resume_by"], "automatic", now)
                    resumed += 1
        if resumed:
            log.info("resumed %d suspended listings", resumed)
        return {"resumed": resumed}

    # -- extension ---------------------------------------------------------------------------

    async def extend(self, account: Account | None, listing_id: int, data: ExtensionInput) -> dict[str, Any]:
        """延长: adds working days to a running period, counted after its current end; an unsold
        listing is announced again for a new period of that many working days from now."""
        seller = require_role(account, Role.INSTITUTION)
        rules, errors = self.rules, FieldErrors()
        days = data.working_days
        if isinstance(days, bool) or not rules.min_extension_wd <= days <= rules.max_extension_wd:
            errors.add("working_days", f"an extension is {rules.min_extension_wd} to {rules.max_extension_wd} "
                                       "working days")
        reason = text(errors, "reason", data.reason, max_len=2000, required=False, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _own(conn, seller, listing_id)
            previous_end = row["announcement_end"]
            values: dict[str, Any]
            if _running(row, now):
                values = {"announcement_end": self._calendar.period_end(previous_end - _LAST_INSTANT, days)}
            elif row["status"] == UNSOLD:
                values = {"status": ANNOUNCED, "announcement_start": now,
                          "announcement_end": self._calendar.period_end(now, days)}
            elif row["status"] == ANNOUNCED:
                raise Conflict(f"the announcement period ended at {previous_end.isoformat()}: it can be extended "
                               "once the outcome finds no qualified, deposited buyer")
            else:
                raise Conflict(f"this listing is {row['status']}: only an announced listing before its period "
                               "ends, or an unsold one, can be extended")
            await update_row(conn, "listings", {"id": listing_id}, values | {"extensions": row["extensions"] + 1})
            await disclosure.publish(conn, await disclosure.listing_extension(
                conn, listing_id, now, previous_end=previous_end, working_days=days,
                reopened=row["status"] == UNSOLD, reason=reason))
        return await self.overview(seller, listing_id)

    # -- suspension ---------------------------------------------------------------------------

    async def suspend(self, account: Account | None, listing_id: int, data: SuspensionInput) -> dict[str, Any]:
        """中止: the clock stops; no intent can be registered until the listing resumes, at the
        latest `days` calendar days from now, never more than a month."""
        operator = require_role(account, Role.OPERATOR)
        rules, errors = self.rules, FieldErrors()
        reason = text(errors, "reason", data.reason, max_len=2000, multiline=True)
        if isinstance(data.days, bool) or not 1 <= data.days <= rules.max_suspension_days:
            errors.add("days", f"a suspension lasts 1 to {rules.max_suspension_days} days")
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, listing_id)
            if not _running(row, now):
                raise Conflict(f"this listing is {row['status']}" + (
                    ", its announcement period over" if row["status"] == ANNOUNCED else "")
                    + ": only a listing whose announcement period is running can be suspended")
            await update_row(conn, "listings", {"id": listing_id}, {
                "status": SUSPENDED, "suspended_at": now,
                "resume_by": now + timedelta(days=data.days) / self._calendar.acceleration,
                "suspension_reason": reason,
            })
            await disclosure.publish(conn, await disclosure.listing_suspension(conn, listing_id, now))
        return await self.overview(operator, listing_id)

    async def resume(self, account: Account | None, listing_id: int) -> dict[str, Any]:
        """恢复: the period runs again, its end later by exactly the time it was suspended."""
        operator = require_role(account, Role.OPERATOR)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, listing_id)
            if row["status"] != SUSPENDED:
                raise Conflict(f"this listing is {row['status']}, not suspended")
            # A resumption the sweep has not applied yet counts from the moment it was due.
            await self._resume(conn, row, min(now, row["resume_by"]), "operator", now)
        return await self.overview(operator, listing_id)

    async def _resume(self, conn: Conn, row: asyncpg.Record, resumed_at: datetime, how: str, now: datetime) -> None:
        paused = resumed_at - row["suspended_at"]
        await update_row(conn, "listings", {"id": row["id"]}, {
            "status": ANNOUNCED, "announcement_end": row["announcement_end"] + paused,
            "suspended_at": None, "resume_by": None, "suspension_reason": "",
        })
        await disclosure.publish(conn, await disclosure.listing_resumption(
            conn, row["id"], now, suspended_at=row["suspended_at"], resumed_at=resumed_at,
            previous_end=row["announcement_end"], how=how))

    # -- changes of terms -----------------------------------------------------------------------

    async def request_change(self, account: Account | None, listing_id: int,
                             data: ChangeRequestInput) -> dict[str, Any]:
        """变更申请: the published terms stay as they are until the operator approves; one open
        request at a time."""
        seller = require_role(account, Role.INSTITUTION)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _own(conn, seller, listing_id)
            if not (_running(row, now) or row["status"] == SUSPENDED):
                raise Conflict(f"this listing is {row['status']}" + (
                    ", its announcement period over" if row["status"] == ANNOUNCED else "")
                    + ": terms change only during the announcement period")
            changes, reasons = _proposed(data, row)
            if await conn.fetchval("SELECT 1 FROM listing_changes WHERE listing_id = $1 AND status = 'requested'",
                                   listing_id):
                raise Conflict("a change of this listing already awaits the operator's decision")
            try:
                await conn.execute(
                    """INSERT INTO listing_changes (listing_id, requested_at, changes, reasons, status)
                       VALUES ($1, $2, $3, $4, 'requested')""",
                    listing_id, now, changes, reasons)
            except asyncpg.UniqueViolationError as exc:
                raise Conflict("a change of this listing already awaits the operator's decision") from exc
        return await self.overview(seller, listing_id)

    async def decide_change(self, account: Account | None, listing_id: int, change_id: int,
                            data: ChangeDecision) -> dict[str, Any]:
        """Approval applies the change and restarts the announcement period from now (a
        suspension ends with it); rejection changes nothing but the request's status."""
        operator = require_role(account, Role.OPERATOR)
        errors = FieldErrors()
        decision = choice(errors, "decision", data.decision, ("approve", "reject"))
        note = text(errors, "note", data.note, max_len=2000, required=decision == "reject", multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await _locked(conn, listing_id)
            change = await conn.fetchrow(
                "SELECT id, changes, status FROM listing_changes WHERE id = $1 AND listing_id = $2 FOR UPDATE",
                change_id, listing_id)
            if change is None:
                raise NotFound("no such change request on this listing")
            if change["status"] != "requested":
                raise Conflict(f"this change was already {change['status']}")
            if decision == "approve":
                await self._apply(conn, row, change, now)
            await update_row(conn, "listing_changes", {"id": change_id}, {
                "status": "approved" if decision == "approve" else "rejected", "decided_by": operator.id,
                "decided_at": now, "decision_note": note})
            if decision == "approve":
                await disclosure.publish(conn, await disclosure.listing_change(conn, listing_id, change_id, now))
                await disclosure.publish(conn, await disclosure.corrected_announcement(conn, listing_id, change_id, now))
        return await self.overview(operator, listing_id)

    async def _apply(self, conn: Conn, row: asyncpg.Record, change: asyncpg.Record, now: datetime) -> None:
        if not (_running(row, now) or row["status"] == SUSPENDED):
            raise Conflict(f"this listing is {row['status']}" + (
                ", its announcement period over" if row["status"] == ANNOUNCED else "")
                + ": the change can no longer be applied; reject it")
        new = {field: value["to"] for field, value in change["changes"].items()}
        problems = _price_problems(row, new)
        if problems:
            raise Conflict("the change no longer fits the listing: "
                           + "; ".join(f"{k} {v}" for k, v in problems.items()) + "; reject it")
        if row["status"] == SUSPENDED:
            await self._resume(conn, row, min(now, row["resume_by"]), "change", now)
        await update_row(conn, "listings", {"id": row["id"]}, new | {
            "announcement_start": now,
            "announcement_end": self._calendar.period_end(now, row["announcement_wd"]),
        })

    # -- reading -----------------------------------------------------------------------------------

    async def overview(self, account: Account | None, listing_id: int) -> dict[str, Any]:
        """The period as it stands, the change requests and the published history. The seller
        and operators see every request; others the approved ones of a public listing."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_LISTING, listing_id)
            if row is None:
                raise NotFound("no such listing")
            is_seller = account is not None and account.id == row["seller_id"]
            is_operator = account is not None and account.role == Role.OPERATOR
            if row["status"] in NOT_PUBLIC and not (is_seller or is_operator):
                raise NotFound("no such listing")
            changes = [_change_view(c) for c in await conn.fetch(_CHANGES, listing_id)]
            records = await chain.of_procedure(conn, row["reference_no"])
        if not (is_seller or is_operator):
            changes = [c for c in changes if c["status"] == "approved"]
        open_change = next((c for c in changes if c["status"] == "requested"), None)
        changeable = _running(row, now) or row["status"] == SUSPENDED
        history = [r.view(now) for r in records if r.kind in HISTORY_KINDS and r.corrects is None]
        return {
            "listing": _listing_view(row),
            "rules": {"min_extension_wd": self.rules.min_extension_wd, "max_extension_wd": self.rules.max_extension_wd,
                      "max_suspension_days": self.rules.max_suspension_days},
            "open_change": open_change,
            "changes": changes,
            "history": history,
            "can": {
                "extend": is_seller and (_running(row, now) or row["status"] == UNSOLD),
                "request_change": is_seller and changeable and open_change is None,
                "suspend": is_operator and _running(row, now),
                "resume": is_operator and row["status"] == SUSPENDED,
                "decide_change": is_operator and open_change is not None,
            },
        }
