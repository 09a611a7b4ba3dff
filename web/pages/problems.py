"""The problem tender page (难题招标 / 揭榜挂帅): the owner states the budget and milestones before
approval and sees its escrow instructions; the solver submits deliverables and objects; the
owner accepts or rejects; an operator matches the escrow transfer and arbitrates objections."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.problems.types import (
    Arbitration,
    Decision,
    Deliverable,
    MilestoneInput,
    ObjectionInput,
    ProblemInput,
)
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from web.context import services, viewer
from web.i18n import translator
from web.pages.common import (
    lines,
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)
from web.pages.money import money_context


def problem_input(form: dict[str, str]) -> ProblemInput:
    """Milestones one per line: title|acceptance criteria|amount|due date (YYYY-MM-DD)."""
    errors: dict[str, str] = {}
    budget = parse_money(errors, "budget", form.get("budget", "")) or 0
    milestones = []
    for n, line in enumerate(lines(form.get("milestones", "")), start=1):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 4:
            errors["milestones"] = f"line {n}: title|criteria|amount|YYYY-MM-DD"
            continue
        share = parse_money(errors, "milestones", parts[2]) or 0
        try:
            due = date.fromisoformat(parts[3])
        except ValueError:
            errors["milestones"] = f"line {n}: the due date is YYYY-MM-DD"
            continue
        milestones.append(MilestoneInput(title=parts[0], criteria=parts[1], share=share, due_on=due))
    raise_form_errors(errors)
    return ProblemInput(budget=budget, milestones=milestones)


async def _act(svc: Services, request: Request[Any, Any, Any], tender_id: int, action: str,
               form: dict[str, str]) -> None:
    who, problems = viewer(request), svc.problems
    errors: dict[str, str] = {}
    seq = parse_int(errors, "seq", form.get("seq", ""), 0) or 0
    if action == "define":
        await problems.define(who, tender_id, problem_input(form))
    elif action == "escrow":
        paid = parse_money(errors, "amount", form.get("amount", "")) or 0
        raise_form_errors(errors)
        await problems.fund(who, BankTransfer(reference_code=form.get("reference_code", ""), amount=paid,
                                                statement_ref=form.get("statement_ref", "")))
    elif action == "submit":
        raise_form_errors(errors)
        await problems.submit(who, tender_id, seq, Deliverable(note=form.get("note", "")))
    elif action == "decide":
        raise_form_errors(errors)
        await problems.decide(who, tender_id, seq, Decision(decision=form.get("decision", ""),
                                                            reasons=form.get("reasons", "")))
    elif action == "object":
        raise_form_errors(errors)
        await problems.object(who, tender_id, seq, ObjectionInput(grounds=form.get("grounds", "")))
    elif action == "arbitrate":
        raise_form_errors(errors)
        await problems.arbitrate(who, tender_id, seq, Arbitration(decision=form.get("decision", ""),
                                                                  reasons=form.get("reasons", "")))
    elif action == "cancel":
        await problems.cancel(who, tender_id)
    else:
        raise ValidationFailed("unknown action")


class ProblemPages(Controller):
    include_in_schema = False

    @get("/problems/{tender_id:int}", cache=False)
    async def detail(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> Template:
        return await self._page(request, tender_id)

    @post("/problems/{tender_id:int}/{action:str}")
    async def act(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        try:
            await _act(services(request), request, tender_id, action, form)
        except (ValidationFailed, Conflict) as exc:
            return await self._page(request, tender_id, errors=exc.field_errors or {"": exc.detail}, form=form,
                                    status=exc.status)
        t = translator(request)
        return await redirect_with_flash(request, f"/problems/{tender_id}", t(f"problem.done.{action}"))

    async def _page(self, request: Request[Any, Any, Any], tender_id: int, *, errors: dict[str, str] | None = None,
                    form: dict[str, str] | None = None, status: int = 200) -> Template:
        svc, who = services(request), viewer(request)
        tender = await svc.tenders.tender(who, tender_id)
        try:
            problem = await svc.problems.problem(who, tender_id)
        except NotFound:
            if who is None or who.id != tender["owner_id"] or tender["status"] != "submitted":
                raise
            problem = None
        return await render(request, "problem.html", status=status, tender=tender, problem=problem,
                            errors=errors or {}, form=form or {}, **money_context(request))
