"""Tenders (招标) from announcement to contract: the service the web layer calls.

Announcement and review, questions and objections, and the sweep that applies deadlines
(the opening, the award, refunds), also those that passed while the exchange was down.
Securities and proposals are in `bidding`, the committee and the award in `evaluation`.
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
from exchange.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from exchange.infra.sweeper import Sweeper
from exchange.settlement.types import BankTransfer
from exchange.tenders import bidding, evaluation
from exchange.tenders import repository as repo
from exchange.tenders.context import TenderContext, locked_tender, party
from exchange.tenders.sealing import Sealer
from exchange.tenders.types import (
    AnswerInput,
    CommitteeInput,
    ContractInput,
    MemberScores,
    ProposalInput,
    QuestionInput,
    TenderInput,
    TenderReview,
    TenderRules,
)
from exchange.tenders.views import receipt_view, security_view, summary_view, tender_view
from exchange.validation import FieldErrors, amount, choice, currency, text

log = logging.getLogger(__name__)
PUBLIC = ("open", "retender", "opened", "candidates", "awarded", "contracted")


class TenderService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar, secret: str,
                 rules: TenderRules | None = None) -> None:
        self.rules = rules or TenderRules()
        self._ctx = TenderContext(pool, clock, calendar.acceleration, Sealer(secret), self.rules)
        self._sweeper = Sweeper("tender sweep", self.sweep, clock, lambda: self.rules.sweep_s)

    # -- the sweep -------------------------------------------------------------------------

    def start(self) -> None:
        """Sweeps at once (deadlines that passed while the exchange was down), then periodically."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def sweep(self) -> dict[str, int]:
        """Opens tenders whose deadline passed, awards those whose candidates' window closed,
        refunds securities still held after a contract or a re-tender."""
        now = self._ctx.clock.now()
        counts = {"opened": 0, "retender": 0, "awarded": 0, "refunded": 0}
        async with self._ctx.pool.acquire() as conn:
            due = await conn.fetch("SELECT id FROM tenders WHERE status = 'open' AND deadline <= $1 ORDER BY id", now)
            awardable = await conn.fetch(
                "SELECT id FROM tenders WHERE status = 'candidates' AND candidates_until <= $1 ORDER BY id", now)
            leftover = await conn.fetch(
                """SELECT DISTINCT t.id FROM tenders t JOIN tender_securities s ON s.tender_id = t.id
                   WHERE t.status IN ('retender', 'contracted') AND s.status IN ('held', 'due')""")
        for row in due:
            outcome = await bidding.open_due(self._ctx, row["id"])
            if outcome is not None:
                counts[outcome] += 1
        for row in awardable:
            counts["awarded"] += await evaluation.award_due(self._ctx, row["id"])
        for row in leftover:
            async with self._ctx.pool.acquire() as conn, conn.transaction():
                await locked_tender(conn, row["id"])
                counts["refunded"] += await bidding.release_securities(conn, row["id"], now)
        return counts

    # -- announcement and review ---------------------------------------------------------

    async def announce(self, viewer: Account | None, data: TenderInput, retender_of: int | None = None) -> dict[str, Any]:
        """招标公告: submitted for the operator's approval; the tender's key pair is made now."""
        owner = party(viewer)
        values = self._validated(data)
        now = self._ctx.clock.now()
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            if retender_of is not None:
                previous = await locked_tender(conn, retender_of)
                if previous["owner_id"] != owner.id:
                    raise Forbidden("only the tender's owner may re-announce it")
                if previous["status"] != "retender":
                    raise Conflict(f"tender {previous['reference_no']} is {previous['status']}, not marked for re-tender")
                if await conn.fetchval("SELECT 1 FROM tenders WHERE retender_of = $1 AND status <> 'returned'",
                                       retender_of):
                    raise Conflict(f"tender {previous['reference_no']} was already re-announced")
            tender_id: int = await conn.fetchval("SELECT nextval('tenders_id_seq')")
            public_key, wrapped = self._ctx.sealer.new_tender_keys(tender_id)
            await repo.insert_tender(conn, values | {
                "id": tender_id, "reference_no": await repo.next_reference(conn, now), "owner_id": owner.id,
                "status": "submitted", "retender_of": retender_of, "public_key": public_key,
                "wrapped_key": wrapped, "created_at": now,
            })
        return await self.tender(owner, tender_id)

    async def retender(self, viewer: Account | None, tender_id: int, data: TenderInput) -> dict[str, Any]:
        return await self.announce(viewer, data, retender_of=tender_id)

    def _validated(self, data: TenderInput) -> dict[str, Any]:
        rules, errors = self.rules, FieldErrors()
        title = text(errors, "title", data.title, max_len=200)
        summary = text(errors, "summary", data.summary, max_len=5000, multiline=True)
        if len(data.documents) > 20:
            errors.add("documents", "at most 20 documents")
        documents = [{"title": text(errors, "documents", d.title, max_len=200),
                      "description": text(errors, "documents", d.description, max_len=1000, required=False)}
                     for d in data.documents[:20]]
        method = choice(errors, "evaluation", data.evaluation, ("price", "weighted"))
        weight = 10_000 if method == "price" else data.price_weight
        if method == "weighted" and not rules.min_price_weight_bp <= weight <= 10_000:
            errors.add("price_weight", f"basis points from {rules.min_price_weight_bp} "
                                       f"({rules.min_price_weight_bp / 100:g}%) to 10000")
        estimate = amount(errors, "estimate", data.estimate)
        security = amount(errors, "security", data.security, allow_zero=True)
        if security * 10_000 > estimate * rules.max_security_bp:
            errors.add("security", f"at most {rules.max_security_bp / 100:g}% of the estimate")
        cur = currency(errors, "currency", data.currency)
        issued, deadline = data.documents_issued_at, data.deadline
        for field, moment in (("documents_issued_at", issued), ("deadline", deadline)):
            if moment.tzinfo is None:
                errors.add(field, "must include a time zone, e.g. 2026-04-01T09:00:00+08:00")
        if "documents_issued_at" not in errors.errors and issued < self._ctx.clock.now() - timedelta(hours=1):
            errors.add("documents_issued_at", "must not be in the past")
        if not {"documents_issued_at", "deadline"} & set(errors.errors):
            self._check_deadline(errors, issued, deadline)
        errors.raise_if_any()
        return {
            "title": title, "summary": summary, "documents": documents, "evaluation": method,
            "price_weight": weight, "estimate": estimate, "currency": cur, "security_amount": security,
            "documents_issued_at": issued, "deadline": deadline,
            "questions_until": deadline - self._ctx.days(rules.questions_close_days),
        }

    def _check_deadline(self, errors: FieldErrors, issued: datetime, deadline: datetime) -> None:
        if deadline < issued + self._ctx.days(self.rules.min_days_to_deadline):
            errors.add("deadline", f"must be at least {self.rules.min_days_to_deadline} days after the "
                                   "documents are issued")

    async def review(self, viewer: Account | None, tender_id: int, data: TenderReview) -> dict[str, Any]:
        """The operator publishes the tender (its documents are issued no earlier than now) or returns it."""
        staff = require_role(viewer, Role.OPERATOR)
        errors = FieldErrors()
        decision = choice(errors, "decision", data.decision, ("approve", "return"))
        reasons = text(errors, "reasons", data.reasons, max_len=2000, required=decision == "return", multiline=True)
        errors.raise_if_any()
        now = self._ctx.clock.now()
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            tender = await locked_tender(conn, tender_id)
            if tender["status"] != "submitted":
                raise Conflict(f"tender {tender['reference_no']} is {tender['status']}, not awaiting review")
            if decision == "return":
                await repo.set_tender(conn, tender_id, status="returned", return_reasons=reasons, reviewed_by=staff.id)
            else:
                issued = max(tender["documents_issued_at"], now)
                late = FieldErrors()
                self._check_deadline(late, issued, tender["deadline"])
                if late.errors:
                    raise Conflict("published now, the deadline would be less than "
                                   f"{self.rules.min_days_to_deadline} days after the documents are issued: "
                                   "return it so the owner announces a later deadline")
                await repo.set_tender(conn, tender_id, status="open", documents_issued_at=issued,
                                      published_at=now, reviewed_by=staff.id)
                await disclosure.publish(conn, await disclosure.tender_announcement(conn, tender_id, now))
        return await self.tender(staff, tender_id)

    # -- reading -----------------------------------------------------------------------------

    async def tenders(self, viewer: Account | None, *, status: str | None = None, mine: bool = False) -> list[dict[str, Any]]:
        """Published tenders for everyone; `mine`: the owner's own, any status; operators may ask any status."""
        async with self._ctx.pool.acquire() as conn:
            if mine:
                who = party(viewer)
                rows = await repo.tenders_where(conn, "t.owner_id = $1", who.id)
            elif status is not None and viewer is not None and viewer.role == Role.OPERATOR:
                rows = await repo.tenders_where(conn, "t.status = $1", status)
            else:
                rows = await repo.tenders_where(conn, "t.status = ANY($1::text[])", list(PUBLIC))
        return [summary_view(row) for row in rows]

    async def tender(self, viewer: Account | None, tender_id: int) -> dict[str, Any]:
        """The public view, plus the viewer's own security and receipt; operators also see the committee."""
        async with self._ctx.pool.acquire() as conn:
            row = await repo.tender(conn, tender_id)
            if row is None:
                raise NotFound("no such tender")
            staff = viewer is not None and viewer.role == Role.OPERATOR
            if row["status"] not in PUBLIC and not staff and (viewer is None or viewer.id != row["owner_id"]):
                raise NotFound("no such tender")
            proposals = await repo.proposals(conn, tender_id)
            view = tender_view(row, proposals, await repo.questions(conn, tender_id))
            view["my_security"] = view["my_receipt"] = None
            if viewer is not None:
                mine = await repo.securities_where(conn, "s.tender_id = $1 AND s.bidder_id = $2", tender_id, viewer.id)
                view["my_security"] = security_view(mine[0]) if mine else None
                own = next((p for p in proposals if p["bidder_id"] == viewer.id), None)
                view["my_receipt"] = receipt_view(row, own, None, False) if own else None
            if staff:
                view["committee"] = row["committee"]
                view["scored"] = [dict(r) for r in await repo.scores(conn, tender_id)]
        return view

    async def securities(self, viewer: Account | None, *, status: str | None = None) -> list[dict[str, Any]]:
        if viewer is None:
            raise NotAuthenticated("log in first")
        async with self._ctx.pool.acquire() as conn:
            if viewer.role == Role.OPERATOR:
                rows = await repo.securities_where(conn, "($1::text IS NULL OR s.status = $1)", status)
            else:
                rows = await repo.securities_where(conn, "s.bidder_id = $1", viewer.id)
        return [security_view(row) for row in rows]

    # -- questions and objections ---------------------------------------------------------

    async def ask(self, viewer: Account | None, tender_id: int, data: QuestionInput) -> dict[str, Any]:
        """A question or objection on the announcement until 10 days before the deadline; an
        objection to the candidates while they are published (it pauses the award until answered)."""
        if viewer is None:
            raise NotAuthenticated("log in first")
        errors = FieldErrors()
        body = text(errors, "body", data.body, max_len=2000, multiline=True)
        kind = choice(errors, "kind", data.kind, ("question", "objection"))
        errors.raise_if_any()
        now = self._ctx.clock.now()
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            tender = await locked_tender(conn, tender_id)
            if tender["owner_id"] == viewer.id:
                raise Conflict("the owner answers questions; it does not ask them")
            answer_due = None
            if tender["status"] == "open" and now < tender["questions_until"]:
                stage = "announcement"
            elif tender["status"] == "candidates" and now < tender["candidates_until"] and kind == "objection":
                stage, answer_due = "candidates", now + self._ctx.days(self.rules.objection_answer_days)
            elif tender["status"] == "open":
                raise Conflict(f"questions and objections closed at {tender['questions_until'].isoformat()}, "
                               f"{self.rules.questions_close_days} days before the deadline")
            else:
                raise Conflict(f"tender {tender['reference_no']} takes no {kind}s now")
            question_id = await repo.insert_question(conn, {
                "tender_id": tender_id, "author_id": viewer.id, "kind": kind, "stage": stage, "body": body,
                "asked_at": now, "answer_due": answer_due})
        return {"id": question_id, "tender_id": tender_id, "kind": kind, "stage": stage}

    async def answer(self, viewer: Account | None, tender_id: int, question_id: int, data: AnswerInput) -> dict[str, Any]:
        """The owner (or an operator) answers; answers are public."""
        if viewer is None:
            raise NotAuthenticated("log in first")
        errors = FieldErrors()
        reply = text(errors, "answer", data.answer, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._ctx.clock.now()
        async with self._ctx.pool.acquire() as conn, conn.transaction():
            tender = await locked_tender(conn, tender_id)
            if viewer.id != tender["owner_id"] and viewer.role != Role.OPERATOR:
                raise Forbidden("only the tender's owner answers its questions")
            done = await conn.fetchval(
                """UPDATE tender_questions SET answer = $3, answered_by = $4, answered_at = $5
                   WHERE id = $1 AND tender_id = $2 AND answer IS NULL RETURNING id""",
                question_id, tender_id, reply, viewer.id, now)
            if done is None:
                raise Conflict("no unanswered question with this id on this tender")
            await disclosure.publish(conn, await disclosure.tender_objection_outcome(conn, tender_id, question_id, now))
        return {"id": question_id, "tender_id": tender_id, "answered": True}

    # -- delegated steps --------------------------------------------------------------------

    async def request_security(self, viewer: Account | None, tender_id: int) -> dict[str, Any]:
        return await bidding.request_security(self._ctx, viewer, tender_id)

    async def confirm_security(self, viewer: Account | None, line: BankTransfer) -> dict[str, Any]:
        return await bidding.confirm_security(self._ctx, viewer, line)

    async def submit_proposal(self, viewer: Account | None, tender_id: int, data: ProposalInput,
                              idempotency_key: str) -> dict[str, Any]:
        return await bidding.submit_proposal(self._ctx, viewer, tender_id, data, idempotency_key)

    async def set_committee(self, viewer: Account | None, tender_id: int, data: CommitteeInput) -> dict[str, Any]:
        await evaluation.set_committee(self._ctx, viewer, tender_id, data)
        return await self.tender(viewer, tender_id)

    async def score(self, viewer: Account | None, tender_id: int, data: MemberScores) -> dict[str, Any]:
        return await evaluation.score(self._ctx, viewer, tender_id, data)

    async def award(self, viewer: Account | None, tender_id: int) -> dict[str, Any]:
        if viewer is None:
            raise NotAuthenticated("log in first")
        await evaluation.award_due(self._ctx, tender_id, viewer)
        return await self.tender(viewer, tender_id)

    async def record_contract(self, viewer: Account | None, tender_id: int, data: ContractInput) -> dict[str, Any]:
        await evaluation.record_contract(self._ctx, viewer, tender_id, data)
        return await self.tender(viewer, tender_id)

