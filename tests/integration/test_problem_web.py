"""Problem tenders over HTTP: the JSON API with problem-details refusals, and the page's forms
for each party (the owner's definition and escrow instructions, the solver's and owner's steps)."""

from __future__ import annotations

from typing import Any

import httpx

from exchange.accounts.types import Account
from exchange.clock import FixedClock
from exchange.disclosure.verify import verify
from exchange.ledger.check import check
from exchange.problems.types import (
    Arbitration,
    Decision,
    Deliverable,
    ObjectionInput,
)
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from tests.integration.helpers import PASSWORD, csrf_from, token_for
from tests.integration.problem_flow import BUDGET, SHARES, awarded_problem
from tests.integration.tender_flow import tender_input, tender_parties
from tests.ocds_schema import ocds_problems

PROBLEM_JSON = "application/problem+json"


async def _login(client: httpx.AsyncClient, account: Account) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    page = await browser.get("/login?lang=en")
    response = await browser.post("/login", data={
        "email": account.email, "password": PASSWORD, "_csrf": csrf_from(page.text)})
    assert response.status_code == 303, response.text
    return browser


async def test_each_problem_step_has_an_api_and_refusals_are_problem_details(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    problem = await awarded_problem(services, clock)
    tid, base = problem.tender_id, f"/api/tenders/{problem.tender_id}/problem"
    owner_headers = await token_for(client, problem.parties.owner.email)
    solver_headers = await token_for(client, problem.solver.email)
    operator_headers = await token_for(client, problem.parties.operator.email)
    public = await client.get(base)
    assert public.status_code == 200 and public.json()["escrow"] is None
    early = await client.post(f"{base}/milestones/1/deliverable", json={"note": "小样"}, headers=solver_headers)
    assert early.status_code == 409 and early.headers["content-type"].startswith(PROBLEM_JSON)
    reference = (await client.get(base, headers=owner_headers)).json()["escrow"]["reference_code"]
    line = {"reference_code": reference, "amount": BUDGET, "statement_ref": "API-1"}
    refused = await client.post("/api/problem-escrows/bank-transfers", json=line, headers=owner_headers)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith(PROBLEM_JSON)
    funded = await client.post("/api/problem-escrows/bank-transfers", json=line, headers=operator_headers)
    assert funded.status_code == 201, funded.text
    assert [e["status"] for e in (await client.get("/api/problem-escrows/", headers=operator_headers)).json()] == ["funded"]
    sent = await client.post(f"{base}/milestones/1/deliverable", json={"note": "小样"}, headers=solver_headers)
    assert sent.status_code == 200 and sent.json()["milestones"][0]["status"] == "submitted"
    bad = await client.post(f"{base}/milestones/1/decision", json={"decision": "reject"}, headers=owner_headers)
    assert bad.status_code == 422 and "reasons" in bad.json()["errors"]
    await client.post(f"{base}/milestones/1/decision", json={"decision": "reject", "reasons": "不达标"},
                      headers=owner_headers)
    objected = await client.post(f"{base}/milestones/1/objection", json={"grounds": "已达标"}, headers=solver_headers)
    assert objected.status_code == 200
    ruled = await client.post(f"{base}/milestones/1/arbitration", json={"decision": "release", "reasons": "达标"},
                              headers=operator_headers)
    assert ruled.status_code == 200 and ruled.json()["milestones"][0]["status"] == "accepted"
    closed = await client.post(f"{base}/cancel", headers=owner_headers)
    assert closed.status_code == 200 and closed.json()["escrow"]["refunded"] == SHARES[1]
    async with services.pool.acquire() as conn:
        assert await check(conn) == []
    assert tid == closed.json()["tender_id"]


async def test_the_problem_page_shows_each_party_its_own_steps(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    problem = await awarded_problem(services, clock)
    path = f"/problems/{problem.tender_id}"
    owner = await _login(client, problem.parties.owner)
    page = await owner.get(path)
    assert page.status_code == 200 and 'id="escrow-reference"' in page.text and "Transfer the whole budget" not in page.text
    assert "transfer the whole budget" in page.text and 'id="accept-1"' not in page.text
    loser = await _login(client, problem.loser)
    assert 'id="escrow-reference"' not in (await loser.get(path)).text
    await services.problems.fund(problem.parties.operator, _line(await services.problems.problem(
        problem.parties.owner, problem.tender_id)))
    solver = await _login(client, problem.solver)
    solver_page = await solver.get(path)
    assert 'id="submit-1"' in solver_page.text
    sent = await solver.post(f"{path}/submit", data={"seq": "1", "note": "小样与检测报告",
                                                     "_csrf": csrf_from(solver_page.text)})
    assert sent.status_code == 303, sent.text
    owner_page = await owner.get(path)
    assert 'id="accept-1"' in owner_page.text and "小样与检测报告" in owner_page.text
    accepted = await owner.post(f"{path}/decide", data={"seq": "1", "decision": "accept",
                                                        "_csrf": csrf_from(owner_page.text)})
    assert accepted.status_code == 303
    assert 'data-status="accepted"' in (await solver.get(path)).text


async def test_the_owner_states_the_budget_and_milestones_on_the_page(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=0)
    tender = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    owner = await _login(client, parties.owner)
    tender_page = await owner.get(f"/tenders/{tender['id']}")
    assert 'id="problem-link"' in tender_page.text
    form = await owner.get(f"/problems/{tender['id']}")
    wrong = await owner.post(f"/problems/{tender['id']}/define", data={
        "budget": "100", "milestones": "小样|检测报告|90|2026-06-30", "_csrf": csrf_from(form.text)})
    assert wrong.status_code == 422 and "must be equal" in wrong.text
    saved = await owner.post(f"/problems/{tender['id']}/define", data={
        "budget": "100", "milestones": "小样|检测报告|40|2026-06-30\n中试|中试报告|60|2026-09-30",
        "_csrf": csrf_from(form.text)})
    assert saved.status_code == 303, saved.text
    shown = await owner.get(f"/problems/{tender['id']}")
    assert 'id="milestone-2"' in shown.text and "¥60.00" in shown.text


def _line(view: dict[str, Any]) -> BankTransfer:
    escrow = view["escrow"]
    return BankTransfer(reference_code=escrow["reference_code"], amount=BUDGET, statement_ref="PAGE-1")


async def test_accepted_milestones_and_arbitration_outcomes_are_published_without_the_parties_notes(
    client: httpx.AsyncClient, services: Services, clock: FixedClock,
) -> None:
    problem = await awarded_problem(services, clock)
    owner, solver, operator, tid = problem.parties.owner, problem.solver, problem.parties.operator, problem.tender_id
    await services.problems.fund(operator, _line(await services.problems.problem(owner, tid)))
    await services.problems.submit(solver, tid, 1, Deliverable(note="保密交付：配方 A-17"))
    await services.problems.decide(owner, tid, 1, Decision(decision="reject", reasons="业主内部意见：不满意"))
    await services.problems.object(solver, tid, 1, ObjectionInput(grounds="揭榜方理由：已达标"))
    await services.problems.arbitrate(operator, tid, 1, Arbitration(decision="uphold", reasons="检测报告缺失"))
    await services.problems.submit(solver, tid, 1, Deliverable(note="保密交付：配方 A-18"))
    await services.problems.decide(owner, tid, 1, Decision(decision="reject", reasons="仍不满意"))
    await services.problems.object(solver, tid, 1, ObjectionInput(grounds="补充了检测报告"))
    await services.problems.arbitrate(operator, tid, 1, Arbitration(decision="release", reasons="检测报告满足验收标准"))
    await services.problems.submit(solver, tid, 2, Deliverable(note="中试报告"))
    await services.problems.decide(owner, tid, 2, Decision(decision="accept"))
    reference = (await services.problems.problem(None, tid))["reference_no"]
    feed = (await client.get("/api/disclosures", params={"procedure": reference})).json()
    records = [r for r in feed["records"] if r["kind"].startswith("problem_")]
    assert [(r["kind"], r["body"]["milestone"]["seq"], r["body"].get("outcome"), r["body"].get("released_by"))
            for r in records] == [
        ("problem_arbitration", 1, "uphold", None), ("problem_milestone_accepted", 1, None, "arbitration"),
        ("problem_arbitration", 1, "release", None), ("problem_milestone_accepted", 2, None, "owner")]
    assert records[0]["body"]["ruling"] == "检测报告缺失" and records[3]["body"]["milestone"]["share"] == SHARES[1]
    published = str(feed)
    for private in ("A-17", "A-18", "不满意", "已达标", "补充了检测报告", "P2026"):
        assert private not in published
    board = await client.get(f"/disclosures/{records[2]['seq']}?lang=en")
    assert board.status_code == 200 and "Problem arbitration outcome" in board.text
    package = (await client.get(f"/api/disclosures/ocds/{reference}")).json()
    assert ocds_problems(package) == []
    milestones = [r["contracts"][0]["implementation"]["milestones"][0]["status"] for r in package["releases"]
                  if r["disclosure"]["kind"].startswith("problem_")]
    assert milestones == ["notMet", "met", "met", "met"]
    async with services.pool.acquire() as conn:
        assert (await verify(conn)).ok and await check(conn) == []
