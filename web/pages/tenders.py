"""Tender pages: the public list and detail, the owner's announce form, the operator's review
and committee scoring, a bidder's security and sealed proposal with its receipt."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from exchange.errors import Conflict, ExchangeError, ValidationFailed
from exchange.services import Services
from exchange.tenders.types import (
    AnswerInput,
    CommitteeInput,
    ContractInput,
    MemberScores,
    ProposalInput,
    QuestionInput,
    TenderDocument,
    TenderInput,
    TenderReview,
)
from web.context import services, viewer
from web.i18n import SHANGHAI, format_iso, translator
from web.pages.common import (
    lines,
    parse_int,
    parse_money,
    raise_form_errors,
    read_form,
    redirect_with_flash,
    render,
)


def _moment(errors: dict[str, str], field: str, raw: str) -> datetime:
    """A datetime-local field, in Beijing time."""
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=SHANGHAI)
    except ValueError:
        errors[field] = "must be a date and time such as 2026-04-01T09:00"
        return datetime.now(SHANGHAI)


def _tender_input(form: dict[str, str]) -> TenderInput:
    errors: dict[str, str] = {}
    documents = [TenderDocument(title=t.partition("|")[0].strip(), description=t.partition("|")[2].strip())
                 for t in lines(form.get("documents", ""))]
    values = TenderInput(
        title=form.get("title", ""), summary=form.get("summary", ""),
        estimate=parse_money(errors, "estimate", form.get("estimate", "")) or 0,
        security=parse_money(errors, "security", form.get("security", ""), required=False) or 0,
        documents_issued_at=_moment(errors, "documents_issued_at", form.get("documents_issued_at", "")),
        deadline=_moment(errors, "deadline", form.get("deadline", "")),
        evaluation=form.get("evaluation", "price"),
        price_weight=(parse_int(errors, "price_weight", form.get("price_weight", ""), 100) or 0) * 100,
        documents=documents,
    )
    raise_form_errors(errors)
    return values


async def _act(svc: Services, request: Request[Any, Any, Any], tender_id: int, action: str,
               form: dict[str, str]) -> dict[str, Any] | None:
    """Runs one form's step; returns a receipt when a proposal was submitted."""
    who, tenders = viewer(request), svc.tenders
    errors: dict[str, str] = {}
    if action == "review":
        await tenders.review(who, tender_id, TenderReview(decision=form.get("decision", ""),
                                                          reasons=form.get("reasons", "")))
    elif action == "ask":
        await tenders.ask(who, tender_id, QuestionInput(body=form.get("body", ""), kind=form.get("kind", "question")))
    elif action == "answer":
        question = parse_int(errors, "question", form.get("question", "")) or 0
        raise_form_errors(errors)
        await tenders.answer(who, tender_id, question, AnswerInput(answer=form.get("answer", "")))
    elif action == "security":
        await tenders.request_security(who, tender_id)
    elif action == "proposal":
        price = parse_money(errors, "price", form.get("price", "")) or 0
        raise_form_errors(errors)
        return await tenders.submit_proposal(who, tender_id, ProposalInput(price=price, technical=form.get(
            "technical", "")), form.get("key", ""))
    elif action == "committee":
        await tenders.set_committee(who, tender_id, CommitteeInput(members=lines(form.get("members", ""))))
    elif action == "scores":
        member = parse_int(errors, "member", form.get("member", "")) or 0
        scores = {k.removeprefix("score_"): parse_int(errors, k, v) or 0
                  for k, v in form.items() if k.startswith("score_")}
        raise_form_errors(errors)
        await tenders.score(who, tender_id, MemberScores(member=member, scores=scores))
    elif action == "award":
        await tenders.award(who, tender_id)
    elif action == "contract":
        await tenders.record_contract(who, tender_id, ContractInput(note=form.get("note", "")))
    else:
        raise ValidationFailed("unknown action")
    return None


class TenderPages(Controller):
    include_in_schema = False

    @get("/tenders")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        svc, who = services(request), viewer(request)
        mine = await svc.tenders.tenders(who, mine=True) if who is not None and who.role != "operator" else []
        pending = await svc.tenders.tenders(who, status="submitted") if who is not None and who.role == "operator" else []
        return await render(request, "tenders.html", tenders=await svc.tenders.tenders(who), mine=mine, pending=pending,
                            at=format_iso)

    @get("/tenders/new")
    async def new(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        if viewer(request) is None:
            return Redirect(path="/login?next=/tenders/new", status_code=303)
        return await render(request, "tender_form.html", form={}, errors={})

    @post("/tenders/new")
    async def announce(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await read_form(request)
        try:
            tender = await services(request).tenders.announce(viewer(request), _tender_input(form))
        except ValidationFailed as exc:
            return await render(request, "tender_form.html", status=422, form=form,
                                errors=exc.field_errors or {"": exc.detail})
        t = translator(request)
        return await redirect_with_flash(request, f"/tenders/{tender['id']}",
                                         f"{tender['reference_no']}: {t('tender.announced')}")

    @get("/tenders/{tender_id:int}")
    async def detail(self, request: Request[Any, Any, Any], tender_id: FromPath[int]) -> Template:
        return await self._detail(request, tender_id)

    @post("/tenders/{tender_id:int}/{action:str}")
    async def act(self, request: Request[Any, Any, Any], tender_id: FromPath[int],
                  action: FromPath[str]) -> Template | Redirect:
        form = await read_form(request)
        try:
            receipt = await _act(services(request), request, tender_id, action, form)
        except (ValidationFailed, Conflict) as exc:
            return await self._detail(request, tender_id, errors=exc.field_errors or {"": exc.detail},
                                      status=exc.status)
        except ExchangeError:
            raise
        if receipt is not None:
            return await self._detail(request, tender_id, receipt=receipt, status=201)
        t = translator(request)
        return await redirect_with_flash(request, f"/tenders/{tender_id}", t(f"tender.done.{action}"))

    async def _detail(self, request: Request[Any, Any, Any], tender_id: int, *, errors: dict[str, str] | None = None,
                      receipt: dict[str, Any] | None = None, status: int = 200) -> Template:
        tender = await services(request).tenders.tender(viewer(request), tender_id)
        problem = await services(request).problems.attached(tender_id)
        return await render(request, "tender.html", status=status, tender=tender, errors=errors or {},
                            problem=problem, receipt=receipt or tender.get("my_receipt"), fresh_receipt=receipt is not None,
                            key=f"web-{secrets.token_hex(12)}", at=format_iso)
