"""Problem tenders (难题招标 / 揭榜挂帅): the service the web layer calls.

A problem tender is a tender (announced, opened and awarded by the tender machinery) with a
budget and milestones attached by its owner before the exchange approves it. The award winner
is the solver. The owner escrows the whole budget before work starts; each milestone's share
is released to the solver on the owner's acceptance, or on an operator's arbitration of the
solver's objection (to a rejection, or to the owner's silence past the acceptance window).
When the owner closes the problem what is left is refunded. Every money step is one
transaction with its ledger lines (see `money`). Each milestone accepted and each arbitration
outcome is published to the disclosure chain in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.calendar import WorkingDayCalendar
from exchange.calendar.workdays import SHANGHAI
from exchange.clock import Clock
from exchange.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from exchange.infra.db import Conn
from exchange.ledger import ledger
from exchange.problems import money
from exchange.problems import repository as repo
from exchange.problems.types import (
    Arbitration,
    Decision,
    Deliverable,
    MilestoneStatus,
    ObjectionInput,
    ProblemInput,
    ProblemRules,
    ProblemStatus,
)
from exchange.problems.views import escrow_row, problem_view
from exchange.settlement import repository as settlement_repo
from exchange.settlement.types import BankTransfer
from exchange.tenders.context import party
from exchange.tenders.service import PUBLIC
from exchange.validation import FieldErrors, amount, choice, text

AWARDED = ("awarded", "contracted")
AWAITING = (MilestoneStatus.SUBMITTED, MilestoneStatus.OBJECTED)


class ProblemService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar,
                 rules: ProblemRules | None = None) -> None:
        self.pool, self.clock, self.calendar = pool, clock, calendar
        self.rules = rules or ProblemRules()

    # -- the problem and its escrow ----------------------------------------------------------

    async def define(self, viewer: Account | None, tender_id: int, data: ProblemInput) -> dict[str, Any]:
        """The owner attaches the budget and milestones to its tender before the exchange approves it."""
        owner = party(viewer)
        milestones, budget = self._validated(data)
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            tender = await conn.fetchrow("SELECT * FROM tenders WHERE id = $1 FOR UPDATE", tender_id)
            if tender is None:
                raise NotFound("no such tender")
            if tender["owner_id"] != owner.id:
                raise Forbidden("only the tender's owner states its problem")
            if tender["status"] != "submitted":
                raise Conflict(f"tender {tender['reference_no']} is {tender['status']}: the budget and milestones "
                               "are part of the announcement and are stated before the exchange approves it")
            added = await repo.insert_problem(conn, {
                "tender_id": tender_id, "budget": budget, "currency": tender["currency"].strip(),
                "reference_code": await settlement_repo.next_reference(conn, "P", now), "created_at": now,
            }, milestones)
            if not added:
                raise Conflict(f"tender {tender['reference_no']} already has its budget and milestones")
        return await self.problem(owner, tender_id)

    def _validated(self, data: ProblemInput) -> tuple[list[dict[str, Any]], int]:
        errors = FieldErrors()
        budget = amount(errors, "budget", data.budget)
        if not 1 <= len(data.milestones) <= self.rules.max_milestones:
            errors.add("milestones", f"from 1 to {self.rules.max_milestones} milestones")
        today = self.clock.now().astimezone(SHANGHAI).date()
        found = []
        for seq, m in enumerate(data.milestones[: self.rules.max_milestones], start=1):
            found.append({
                "seq": seq, "title": text(errors, f"milestones.{seq}.title", m.title, max_len=200),
                "criteria": text(errors, f"milestones.{seq}.criteria", m.criteria, max_len=2000, multiline=True),
                "share": amount(errors, f"milestones.{seq}.share", m.share), "due_on": m.due_on,
            })
            if m.due_on < today:
                errors.add(f"milestones.{seq}.due_on", "must not be in the past")
        total = sum(m.share for m in data.milestones[: self.rules.max_milestones])
        if not errors.errors and total != budget:
            errors.add("milestones", f"the shares sum to {total} minor units, the budget is {budget}: "
                                     "they must be equal")
        errors.raise_if_any()
        return found, budget

    async def fund(self, viewer: Account | None, line: BankTransfer) -> dict[str, Any]:
        """An operator matches the owner's bank transfer: the whole budget is held in the escrow."""
        staff = require_role(viewer, Role.OPERATOR)
        reference, paid, statement_ref = line.checked()
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            found = await repo.problems_where(conn, "p.reference_code = $1", reference)
            if not found:
                raise NotFound(f"no problem tender has the escrow reference code {reference}")
            problem = await self._locked(conn, found[0]["tender_id"])
            if problem["status"] != ProblemStatus.UNFUNDED:
                raise Conflict(f"the escrow {reference} is already {problem['status']}; nothing was recorded")
            if problem["tender_status"] not in AWARDED:
                raise Conflict(f"tender {problem['reference_no']} is {problem['tender_status']}: the budget is "
                               "escrowed once the solver is awarded; return the transfer")
            if paid != problem["budget"]:
                raise Conflict(f"the budget is {problem['budget']} minor units, the transfer is {paid}: the whole "
                               "budget is escrowed at once; nothing was recorded")
            await money.fund(conn, problem, statement_ref, staff.id, now)
            await repo.set_problem(conn, problem["tender_id"], status=ProblemStatus.FUNDED.value, funded_at=now,
                                   funded_by=staff.id)
        return await self.problem(staff, problem["tender_id"])

    async def cancel(self, viewer: Account | None, tender_id: int) -> dict[str, Any]:
        """The owner closes the problem; every unpaid milestone is cancelled and the rest of the
        budget refunded. Not while a deliverable awaits a decision, an arbitration, or the
        solver's window to object to a rejection."""
        who = party(viewer)
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            problem = await self._locked(conn, tender_id)
            if problem["owner_id"] != who.id:
                raise Forbidden("only the problem's owner closes it")
            if problem["status"] not in (ProblemStatus.UNFUNDED, ProblemStatus.FUNDED):
                raise Conflict(f"the problem of {problem['reference_no']} is already {problem['status']}")
            for m in await repo.milestones(conn, tender_id):
                if m["status"] in AWAITING or (m["status"] == MilestoneStatus.REJECTED and now < m["window_until"]):
                    raise Conflict(f"milestone {m['seq']} is {m['status']}: close the problem once it is decided "
                                   "(a rejection can be objected to until "
                                   f"{m['window_until'].isoformat() if m['window_until'] else 'its window ends'})")
            left = await self._held(conn, problem)
            payout_id = await money.refund(conn, problem, left, now)
            await conn.execute("""UPDATE problem_milestones SET status = 'cancelled'
                                  WHERE tender_id = $1 AND status <> 'accepted'""", tender_id)
            await repo.set_problem(conn, tender_id, status=ProblemStatus.CANCELLED.value, closed_at=now,
                                   refunded=left, refund_payout_id=payout_id)
        return await self.problem(who, tender_id)

    # -- milestones ----------------------------------------------------------------------------

    async def submit(self, viewer: Account | None, tender_id: int, seq: int, data: Deliverable) -> dict[str, Any]:
        """The solver delivers a milestone (again after a rejection): the owner decides within the window."""
        who = _logged_in(viewer)
        note = _note(data.note, "note")
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            problem = await self._locked(conn, tender_id)
            if who.id != problem["winner_id"]:
                raise Forbidden("only the solver (the tender's winner) submits deliverables")
            if problem["status"] != ProblemStatus.FUNDED:
                raise Conflict("work starts once the owner's budget is held in escrow: the budget is "
                               f"{'not escrowed yet' if problem['status'] == ProblemStatus.UNFUNDED else problem['status']}")
            milestone = await self._milestone(conn, tender_id, seq)
            if milestone["status"] not in (MilestoneStatus.OPEN, MilestoneStatus.REJECTED, MilestoneStatus.UPHELD):
                raise Conflict(f"milestone {seq} is {milestone['status']}; it takes no deliverable now")
            await repo.set_milestone(conn, tender_id, seq, status=MilestoneStatus.SUBMITTED.value, deliverable=note,
                                     submitted_at=now, window_until=self._window(now))
            await repo.add_step(conn, tender_id, seq, "submitted", who.id, note, now)
        return await self.problem(who, tender_id)

    async def decide(self, viewer: Account | None, tender_id: int, seq: int, data: Decision) -> dict[str, Any]:
        """The owner accepts (the share is paid to the solver) or rejects with reasons."""
        who = _logged_in(viewer)
        errors = FieldErrors()
        decision = choice(errors, "decision", data.decision, ("accept", "reject"))
        reasons = text(errors, "reasons", data.reasons, max_len=5000, required=decision == "reject", multiline=True)
        errors.raise_if_any()
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            problem = await self._locked(conn, tender_id)
            if who.id != problem["owner_id"]:
                raise Forbidden("only the problem's owner accepts or rejects a deliverable")
            milestone = await self._milestone(conn, tender_id, seq)
            if milestone["status"] != MilestoneStatus.SUBMITTED:
                raise Conflict(f"milestone {seq} is {milestone['status']}, not awaiting the owner's decision")
            if decision == "accept":
                await self._release(conn, problem, milestone, "owner", now)
                await repo.add_step(conn, tender_id, seq, "accepted", who.id, reasons, now)
            else:
                await repo.set_milestone(conn, tender_id, seq, status=MilestoneStatus.REJECTED.value,
                                         window_until=self._window(now))
                await repo.add_step(conn, tender_id, seq, "rejected", who.id, reasons, now)
        return await self.problem(who, tender_id)

    async def object(self, viewer: Account | None, tender_id: int, seq: int, data: ObjectionInput) -> dict[str, Any]:
        """The solver objects to a rejection (within the window) or to the owner's silence past it."""
        who = _logged_in(viewer)
        grounds = _note(data.grounds, "grounds")
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            problem = await self._locked(conn, tender_id)
            if who.id != problem["winner_id"]:
                raise Forbidden("only the solver objects to the owner's decision")
            milestone = await self._milestone(conn, tender_id, seq)
            status, until = milestone["status"], milestone["window_until"]
            if status == MilestoneStatus.SUBMITTED and now < until:
                raise Conflict(f"the owner has until {until.isoformat()} to decide on milestone {seq}")
            if status == MilestoneStatus.REJECTED and now >= until:
                raise Conflict(f"objections to this rejection closed at {until.isoformat()}; resubmit instead")
            if status not in (MilestoneStatus.SUBMITTED, MilestoneStatus.REJECTED):
                raise Conflict(f"milestone {seq} is {status}; there is nothing to object to")
            await repo.set_milestone(conn, tender_id, seq, status=MilestoneStatus.OBJECTED.value)
            await repo.add_step(conn, tender_id, seq, "objected", who.id, grounds, now)
        return await self.problem(who, tender_id)

    async def arbitrate(self, viewer: Account | None, tender_id: int, seq: int, data: Arbitration) -> dict[str, Any]:
        """An operator rules on an objection: release the share to the solver, or uphold the
        rejection (the solver may resubmit)."""
        staff = require_role(viewer, Role.OPERATOR)
        errors = FieldErrors()
        decision = choice(errors, "decision", data.decision, ("release", "uphold"))
        reasons = text(errors, "reasons", data.reasons, max_len=5000, multiline=True)
        errors.raise_if_any()
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            problem = await self._locked(conn, tender_id)
            milestone = await self._milestone(conn, tender_id, seq)
            if milestone["status"] != MilestoneStatus.OBJECTED:
                raise Conflict(f"milestone {seq} is {milestone['status']}, not awaiting arbitration")
            if decision == "release":
                await self._release(conn, problem, milestone, "arbitration", now)
                step_id = await repo.add_step(conn, tender_id, seq, "released", staff.id, reasons, now)
            else:
                await repo.set_milestone(conn, tender_id, seq, status=MilestoneStatus.UPHELD.value)
                step_id = await repo.add_step(conn, tender_id, seq, "upheld", staff.id, reasons, now)
            await disclosure.publish(conn, await disclosure.problem_arbitration(conn, tender_id, seq, step_id, now))
        return await self.problem(staff, tender_id)

    async def _release(self, conn: Conn, problem: asyncpg.Record, milestone: asyncpg.Record, by: str,
                       now: datetime) -> None:
        payout_id = await money.release(conn, problem, milestone, now)
        await repo.set_milestone(conn, problem["tender_id"], milestone["seq"], status=MilestoneStatus.ACCEPTED.value,
                                 accepted_at=now, released_by=by, payout_id=payout_id)
        await disclosure.publish(conn, await disclosure.problem_milestone_accepted(conn, problem["tender_id"],
                                                                                   milestone["seq"], now))
        unpaid = await conn.fetchval("SELECT count(*) FROM problem_milestones WHERE tender_id = $1 AND status <> "
                                     "'accepted'", problem["tender_id"])
        if unpaid == 0:
            await repo.set_problem(conn, problem["tender_id"], status=ProblemStatus.COMPLETED.value, closed_at=now)

    # -- reading -------------------------------------------------------------------------------

    async def problem(self, viewer: Account | None, tender_id: int) -> dict[str, Any]:
        async with self.pool.acquire() as conn:
            row = await repo.problem(conn, tender_id)
            if row is None:
                raise NotFound("this tender has no problem attached")
            operator = viewer is not None and viewer.role == Role.OPERATOR
            owner = viewer is not None and viewer.id == row["owner_id"]
            if row["tender_status"] not in PUBLIC and not (owner or operator):
                raise NotFound("this tender has no problem attached")
            solver = viewer is not None and row["winner_id"] is not None and viewer.id == row["winner_id"]
            return problem_view(row, await repo.milestones(conn, tender_id), await repo.steps(conn, tender_id),
                                owner=owner, solver=solver, operator=operator, held=await self._held(conn, row),
                                window_days=self.rules.acceptance_working_days)

    async def attached(self, tender_id: int) -> bool:
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1 FROM problem_tenders WHERE tender_id = $1", tender_id))

    async def escrows(self, viewer: Account | None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Operators: every problem's escrow, by status; an owner: its own."""
        who = _logged_in(viewer)
        async with self.pool.acquire() as conn:
            if who.role == Role.OPERATOR:
                rows = await repo.problems_where(conn, "($1::text IS NULL OR p.status = $1)", status)
            else:
                rows = await repo.problems_where(conn, "t.owner_id = $1", who.id)
        return [escrow_row(row) for row in rows]

    # -- helpers -------------------------------------------------------------------------------

    def _window(self, start: datetime) -> datetime:
        return self.calendar.period_end(start, self.rules.acceptance_working_days)

    async def _locked(self, conn: Conn, tender_id: int) -> asyncpg.Record:
        row = await repo.problem(conn, tender_id, for_update=True)
        if row is None:
            raise NotFound("this tender has no problem attached")
        return row

    async def _milestone(self, conn: Conn, tender_id: int, seq: int) -> asyncpg.Record:
        row = await repo.milestone(conn, tender_id, seq)
        if row is None:
            raise NotFound(f"no milestone {seq} in this problem")
        return row

    async def _held(self, conn: Conn, problem: asyncpg.Record) -> int:
        found = await ledger.balance(conn, money.escrow(problem["tender_id"], problem["currency"].strip()).code)
        return 0 if found is None else found.credits_posted - found.debits_posted


def _logged_in(viewer: Account | None) -> Account:
    if viewer is None:
        raise NotAuthenticated("log in first")
    return viewer


def _note(raw: str, field: str) -> str:
    errors = FieldErrors()
    found = text(errors, field, raw, max_len=5000, multiline=True)
    errors.raise_if_any()
    return found
