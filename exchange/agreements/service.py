"""Agreement pricing with notice (协议定价 + 公示): the service the web layer calls.

An institution publishes a notice of the price it agreed with one investor; the notice runs
at least 15 days; anyone but the two parties may object while it runs; the operator answers
each objection (upheld: the agreement is cancelled for good; dismissed: it goes on) and every
answer is published. When the period has ended, no objection is open and it was not
cancelled, the agreement clears and its trade opens in the same transaction, from where it
settles like any other. The sweep applies that step, also for periods that ended while the
exchange was down.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts import repository as accounts
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.achievements import repository as achievements
from exchange.agreements import repository as repo
from exchange.agreements.types import (
    MAX_NOTICE_DAYS,
    MIN_NOTICE_DAYS,
    OPEN,
    AgreementInput,
    AgreementRules,
    AgreementStatus,
    ObjectionAnswer,
    ObjectionInput,
    ObjectionOutcome,
    WithdrawInput,
    notice_period,
)
from exchange.calendar import WorkingDayCalendar
from exchange.calendar.workdays import SHANGHAI
from exchange.clock import Clock
from exchange.disclosure import repository as records
from exchange.disclosure.types import Kind
from exchange.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from exchange.infra.db import Conn
from exchange.infra.sweeper import Sweeper
from exchange.listings.types import TransferMode
from exchange.settlement.trades import TradeService
from exchange.settlement.types import Sale, TradeMethod
from exchange.validation import FieldErrors, amount, choice, text

log = logging.getLogger(__name__)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def default_procedure(reference_no: str, end: datetime) -> str:
    """The objection procedure printed on a notice when the institution gives none."""
    when = end.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return (f"任何单位或个人对本公示（{reference_no}）有异议的，可在公示期内（至北京时间 {when}）登录交易所，在本公示页面"
            "提交书面异议并说明理由，由交易所审核答复，答复结果予以公示。异议未处理完毕前不得成交；异议成立的，终止本次协议定价。"
            f"\nAnyone may object to this notice ({reference_no}) until {when} Beijing time: log in to the exchange "
            "and file "
            "the objection with its grounds on this notice's page. The exchange's operator answers each objection "
            "and publishes the answer. No deal closes while an objection is open; an upheld objection cancels "
            "the agreement.")


class AgreementService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar, trades: TradeService,
                 rules: AgreementRules | None = None) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._trades = trades
        self.rules = rules or AgreementRules()
        self._sweeper = Sweeper("agreement sweep", self.sweep, clock, lambda: self.rules.sweep_s)

    # -- the sweep -------------------------------------------------------------------------

    def start(self) -> None:
        """Sweeps at once (notices that ended while the exchange was down), then periodically."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def sweep(self) -> dict[str, int]:
        """Clears every agreement whose notice ended with no objection open, opening its trade."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            due = await conn.fetch(
                "SELECT id FROM agreements WHERE status = 'noticed' AND notice_end <= $1 ORDER BY id", now)
        dealt = 0
        for row in due:
            async with self._pool.acquire() as conn, conn.transaction():
                agreement = await repo.agreement(conn, row["id"], for_update=True)
                if agreement is not None and await self._clear_if_due(conn, agreement, now):
                    dealt += 1
        return {"dealt": dealt}

    async def _clear_if_due(self, conn: Conn, agreement: asyncpg.Record, now: datetime) -> bool:
        """Clears and deals `agreement` (locked) if its notice ended with no open objection."""
        if (agreement["status"] != AgreementStatus.NOTICED or agreement["notice_end"] > now
                or await repo.open_objections(conn, agreement["id"])):
            return False
        agreement_id = agreement["id"]
        await repo.set_agreement(conn, agreement_id, status=AgreementStatus.CLEARED.value, cleared_at=now)
        await disclosure.publish(conn, await disclosure.agreement_cleared(conn, agreement_id, now))
        await self._trades.open_sale(conn, Sale(TradeMethod.AGREEMENT_PRICING, agreement["buyer_id"],
                                                agreement["price"], agreement_id=agreement_id), None, now)
        await repo.set_agreement(conn, agreement_id, status=AgreementStatus.DEALT.value)
        log.info("agreement %s cleared; its trade is open", agreement["reference_no"])
        return True

    # -- the notice ------------------------------------------------------------------------

    async def create(self, viewer: Account | None, data: AgreementInput) -> dict[str, Any]:
        """Publishes the notice at once: it is the institution's own public statement."""
        seller = require_role(viewer, Role.INSTITUTION)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            achievement = await achievements.get(conn, data.achievement_id, for_update=True)
            if achievement is None or achievement.owner_id != seller.id:
                raise NotFound("no such achievement among yours")
            errors = FieldErrors()
            price = amount(errors, "price", data.price)
            if ("price" not in errors.errors and achievement.appraised_value is not None
                    and price < achievement.appraised_value):
                errors.add("price", "must not be below the appraised value of the achievement")
            mode = choice(errors, "transfer_mode", data.transfer_mode, [m.value for m in TransferMode])
            summary = text(errors, "summary", data.summary, max_len=5000, required=False, multiline=True)
            note = text(errors, "related_party_note", data.related_party_note, max_len=2000,
                        required=data.related_party is True, multiline=True)
            procedure = text(errors, "objection_procedure", data.objection_procedure, max_len=2000, required=False,
                             multiline=True)
            days = self.rules.notice_days if data.notice_days is None else data.notice_days
            if isinstance(days, bool) or not MIN_NOTICE_DAYS <= days <= MAX_NOTICE_DAYS:
                errors.add("notice_days", f"must be from {MIN_NOTICE_DAYS} to {MAX_NOTICE_DAYS} days")
            email = text(errors, "buyer_email", data.buyer_email, max_len=254)
            buyer = await accounts.account_by_email(conn, email) if email else None
            if email and (buyer is None or buyer.role != Role.INVESTOR):
                errors.add("buyer_email", "no investor account has this e-mail address")
            errors.raise_if_any()
            assert buyer is not None
            if await repo.has_open_listing(conn, achievement.id):
                raise Conflict("this achievement has a listing in progress; it cannot also be sold by agreement")
            if await repo.has_open_agreement(conn, achievement.id):
                raise Conflict("this achievement already has an agreement-pricing notice in progress")
            reference_no = await repo.next_reference(conn, now)
            end = now + notice_period(days, self._calendar.acceleration)
            agreement_id = await repo.insert_agreement(conn, {
                "reference_no": reference_no, "achievement_id": achievement.id, "seller_id": seller.id,
                "buyer_id": buyer.id, "price": price, "currency": achievement.currency, "transfer_mode": mode,
                "summary": summary or achievement.summary, "related_party": data.related_party is True,
                "related_party_note": note, "objection_procedure": procedure or default_procedure(reference_no, end),
                "notice_days": days, "status": AgreementStatus.NOTICED.value, "notice_start": now,
                "notice_end": end, "created_at": now,
            })
            await disclosure.publish(conn, await disclosure.agreement_notice(conn, agreement_id, now))
            return await self._view(conn, seller, agreement_id)

    async def withdraw(self, viewer: Account | None, agreement_id: int, data: WithdrawInput) -> dict[str, Any]:
        """The institution withdraws its notice before it clears: a correction of the notice is
        published (status withdrawn, with the reason); the original record stays as it was."""
        seller = require_role(viewer, Role.INSTITUTION)
        errors = FieldErrors()
        reason = text(errors, "reason", data.reason, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            agreement = await self._locked(conn, agreement_id)
            if agreement["seller_id"] != seller.id:
                raise Forbidden("only the institution that published the notice may withdraw it")
            if agreement["status"] not in OPEN:
                raise Conflict(f"notice {agreement['reference_no']} is {agreement['status']}; it can no longer "
                               "be withdrawn")
            await repo.set_agreement(conn, agreement_id, status=AgreementStatus.CANCELLED.value, cancelled_at=now,
                                     cancel_reason=f"withdrawn by the institution: {reason}")
            original = await records.published(conn, Kind.AGREEMENT_NOTICE.value, agreement["reference_no"])
            assert original is not None
            await disclosure.correct(conn, original.seq, original.body | {
                "status": "withdrawn", "withdrawn_at": now.isoformat()}, reason, now)
            return await self._view(conn, seller, agreement_id)

    # -- objections --------------------------------------------------------------------------

    async def object(self, viewer: Account | None, agreement_id: int, data: ObjectionInput) -> dict[str, Any]:
        """Anyone logged in but the two parties (and the operator, who answers) may object while
        the notice runs; an open objection keeps the deal from closing."""
        if viewer is None:
            raise NotAuthenticated("log in first")
        errors = FieldErrors()
        grounds = text(errors, "grounds", data.grounds, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            agreement = await self._locked(conn, agreement_id)
            if viewer.id in (agreement["seller_id"], agreement["buyer_id"]):
                raise Forbidden("the parties to the agreement cannot object to it")
            if viewer.role == Role.OPERATOR:
                raise Forbidden("the operator answers objections; it does not file them")
            if agreement["status"] not in OPEN:
                raise Conflict(f"notice {agreement['reference_no']} is {agreement['status']}; it takes no objections")
            if now >= agreement["notice_end"]:
                raise Conflict(f"the notice period ended at {agreement['notice_end'].isoformat()}")
            if await repo.open_objection_of(conn, agreement_id, viewer.id):
                raise Conflict("your objection to this notice is still being answered")
            objection_id = await repo.insert_objection(conn, agreement_id, viewer.id, grounds, now)
            await repo.set_agreement(conn, agreement_id, status=AgreementStatus.OBJECTED.value)
        return {"id": objection_id, "agreement_id": agreement_id, "filed_at": now.isoformat(),
                "status": AgreementStatus.OBJECTED.value}

    async def answer(self, viewer: Account | None, agreement_id: int, objection_id: int,
                     data: ObjectionAnswer) -> dict[str, Any]:
        """The operator's answer, published: upheld cancels the agreement for good; the last open
        objection dismissed after the period ended clears it at once."""
        staff = require_role(viewer, Role.OPERATOR)
        errors = FieldErrors()
        outcome = choice(errors, "outcome", data.outcome, [o.value for o in ObjectionOutcome])
        reply = text(errors, "answer", data.answer, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            agreement = await self._locked(conn, agreement_id)
            found = await repo.objection(conn, agreement_id, objection_id)
            if found is None:
                raise NotFound("no such objection to this notice")
            if found["outcome"] is not None:
                raise Conflict(f"this objection was already answered: {found['outcome']}")
            await repo.answer_objection(conn, objection_id, outcome, reply, staff.id, now)
            if agreement["status"] in OPEN:
                if outcome == ObjectionOutcome.UPHELD:
                    await repo.set_agreement(conn, agreement_id, status=AgreementStatus.CANCELLED.value,
                                             cancelled_at=now, cancel_reason=f"objection upheld: {reply}")
                elif not await repo.open_objections(conn, agreement_id):
                    await repo.set_agreement(conn, agreement_id, status=AgreementStatus.NOTICED.value)
            await disclosure.publish(
                conn, await disclosure.agreement_objection_outcome(conn, agreement_id, objection_id, now))
            refreshed = await self._locked(conn, agreement_id)
            await self._clear_if_due(conn, refreshed, now)
            return await self._view(conn, staff, agreement_id)

    # -- reading -----------------------------------------------------------------------------

    async def agreements(self, viewer: Account | None, *, open_only: bool = False,
                         mine: bool = False) -> list[dict[str, Any]]:
        """Every notice is public from its publication; `open_only`: those still running or
        objected; `mine`: the viewer's own as seller or buyer."""
        conditions: list[str] = ["TRUE"]
        args: list[Any] = []
        if open_only:
            conditions.append("g.status = ANY($1::text[])")
            args.append(list(OPEN))
        if mine:
            if viewer is None:
                raise NotAuthenticated("log in first")
            conditions.append(f"(g.seller_id = ${len(args) + 1} OR g.buyer_id = ${len(args) + 1})")
            args.append(viewer.id)
        async with self._pool.acquire() as conn:
            rows = await repo.agreements_where(conn, " AND ".join(conditions), *args)
        now = self._clock.now()
        return [self._summary(row, viewer, now) for row in rows]

    async def agreement(self, viewer: Account | None, agreement_id: int) -> dict[str, Any]:
        async with self._pool.acquire() as conn:
            return await self._view(conn, viewer, agreement_id)

    async def _locked(self, conn: Conn, agreement_id: int) -> asyncpg.Record:
        found = await repo.agreement(conn, agreement_id, for_update=True)
        if found is None:
            raise NotFound("no such agreement-pricing notice")
        return found

    def _summary(self, row: asyncpg.Record, viewer: Account | None, now: datetime) -> dict[str, Any]:
        party = viewer is not None and (viewer.role == Role.OPERATOR or viewer.id in (row["seller_id"], row["buyer_id"]))
        return {
            "id": row["id"], "reference_no": row["reference_no"], "achievement_id": row["achievement_id"],
            "title": row["title"], "title_en": row["title_en"], "seller_id": row["seller_id"],
            "seller_name": row["seller_name"], "buyer_id": row["buyer_id"], "buyer_name": row["buyer_name"],
            "price": row["price"], "currency": row["currency"].strip(), "appraised_value": row["appraised_value"],
            "transfer_mode": row["transfer_mode"], "related_party": row["related_party"], "status": row["status"],
            "notice_days": row["notice_days"], "notice_start": _iso(row["notice_start"]),
            "notice_end": _iso(row["notice_end"]),
            "window": "open" if row["status"] in OPEN and now < row["notice_end"] else "closed",
            "open_objections": row["open_objections"], "cleared_at": _iso(row["cleared_at"]),
            "cancelled_at": _iso(row["cancelled_at"]), "cancel_reason": row["cancel_reason"],
            "trade_id": row["trade_id"] if party else None,
        }

    async def _view(self, conn: Conn, viewer: Account | None, agreement_id: int) -> dict[str, Any]:
        """The public notice with its objections (grounds and answers; the objector's name only
        to the operator, and "mine" to the objector)."""
        row = await repo.agreement(conn, agreement_id)
        if row is None:
            raise NotFound("no such agreement-pricing notice")
        staff = viewer is not None and viewer.role == Role.OPERATOR
        objections = []
        for o in await repo.objections(conn, agreement_id):
            item = {"id": o["id"], "grounds": o["grounds"], "filed_at": _iso(o["filed_at"]), "outcome": o["outcome"],
                    "answer": o["answer"], "answered_at": _iso(o["answered_at"]),
                    "mine": viewer is not None and viewer.id == o["objector_id"]}
            if staff:
                item["objector_name"] = o["objector_name"]
            objections.append(item)
        notice = await records.published(conn, Kind.AGREEMENT_NOTICE.value, row["reference_no"])
        return self._summary(row, viewer, self._clock.now()) | {
            "summary": row["summary"], "related_party_note": row["related_party_note"],
            "objection_procedure": row["objection_procedure"], "created_at": _iso(row["created_at"]),
            "objections": objections, "notice_seq": None if notice is None else notice.seq,
        }
