"""Problem tenders (难题招标 / 揭榜挂帅) on real PostgreSQL: each test is named after the rule it
checks, and the ledger's invariants are checked after every money step."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from exchange.clock import FixedClock
from exchange.errors import Conflict, Forbidden, NotFound, ValidationFailed
from exchange.ledger import ledger
from exchange.ledger.check import check
from exchange.problems import money
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
from exchange.tenders.types import TenderReview
from tests.integration.problem_flow import (
    BUDGET,
    SHARES,
    Problem,
    awarded_problem,
    escrow,
    problem_input,
)
from tests.integration.tender_flow import tender_input, tender_parties

ESCROW = "escrow:problem:{}:CNY"


async def _ledger_holds(services: Services) -> None:
    async with services.pool.acquire() as conn:
        assert await check(conn) == []


async def _balance(services: Services, code: str) -> int:
    async with services.pool.acquire() as conn:
        found = await ledger.balance(conn, code)
    return 0 if found is None else found.credits_posted - found.debits_posted


async def _funded(services: Services, clock: FixedClock) -> Problem:
    problem = await awarded_problem(services, clock)
    await escrow(services, problem)
    await _ledger_holds(services)
    return problem


async def test_the_budget_and_milestones_are_stated_with_the_announcement_and_the_shares_sum_to_the_budget(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=1)
    tender = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    with pytest.raises(ValidationFailed, match="must be equal"):
        await services.problems.define(parties.owner, tender["id"], problem_input(budget=BUDGET + 1))
    with pytest.raises(ValidationFailed) as failed:
        await services.problems.define(parties.owner, tender["id"], ProblemInput(budget=100, milestones=[
            MilestoneInput(title="", criteria="x", share=100, due_on=date(2020, 1, 1))]))
    assert set(failed.value.field_errors) == {"milestones.1.title", "milestones.1.due_on"}
    with pytest.raises(Forbidden):
        await services.problems.define(parties.bidders[0], tender["id"], problem_input())
    defined = await services.problems.define(parties.owner, tender["id"], problem_input())
    assert [(m["seq"], m["share"], m["status"]) for m in defined["milestones"]] == [(1, SHARES[0], "open"),
                                                                                    (2, SHARES[1], "open")]
    with pytest.raises(Conflict, match="already has"):
        await services.problems.define(parties.owner, tender["id"], problem_input())
    with pytest.raises(NotFound):  # not public before the approval
        await services.problems.problem(parties.bidders[0], tender["id"])
    await services.tenders.review(parties.operator, tender["id"], TenderReview(decision="approve"))
    public = await services.problems.problem(None, tender["id"])
    assert public["budget"] == BUDGET and public["acceptance_working_days"] == 10
    other = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    await services.tenders.review(parties.operator, other["id"], TenderReview(decision="approve"))
    with pytest.raises(Conflict, match="before the exchange approves"):
        await services.problems.define(parties.owner, other["id"], problem_input())


async def test_the_budget_is_escrowed_before_work_starts(services: Services, clock: FixedClock) -> None:
    problem = await awarded_problem(services, clock)
    owner, operator, solver = problem.parties.owner, problem.parties.operator, problem.solver
    with pytest.raises(Conflict, match="not escrowed yet"):
        await services.problems.submit(solver, problem.tender_id, 1, Deliverable(note="小样已寄出"))
    view = await services.problems.problem(owner, problem.tender_id)
    reference = view["escrow"]["reference_code"]
    with pytest.raises(Conflict, match="whole budget"):
        await services.problems.fund(operator, BankTransfer(reference_code=reference, amount=BUDGET - 1,
                                                              statement_ref="STMT-PART"))
    with pytest.raises(Forbidden):
        await services.problems.fund(owner, BankTransfer(reference_code=reference, amount=BUDGET,
                                                           statement_ref="STMT-P1"))
    await escrow(services, problem)
    await _ledger_holds(services)
    assert await _balance(services, ESCROW.format(problem.tender_id)) == BUDGET
    assert await _balance(services, f"investor:{owner.id}:CNY") == 0
    with pytest.raises(Conflict, match="already funded"):
        await escrow(services, problem, ref="STMT-P2")
    funded = await services.problems.problem(owner, problem.tender_id)
    assert funded["status"] == "funded" and funded["escrow"]["held"] == BUDGET
    await services.problems.submit(solver, problem.tender_id, 1, Deliverable(note="小样已寄出"))


async def test_the_budget_is_escrowed_only_once_the_solver_is_awarded(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=0)
    tender = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    defined = await services.problems.define(parties.owner, tender["id"], problem_input())
    with pytest.raises(Conflict, match="once the solver is awarded"):
        await services.problems.fund(parties.operator, BankTransfer(
            reference_code=defined["escrow"]["reference_code"], amount=BUDGET, statement_ref="STMT-EARLY"))
    await _ledger_holds(services)


async def test_a_milestone_is_paid_only_on_the_owner_acceptance(services: Services, clock: FixedClock) -> None:
    problem = await _funded(services, clock)
    owner, solver, tid = problem.parties.owner, problem.solver, problem.tender_id
    with pytest.raises(Forbidden):
        await services.problems.submit(problem.loser, tid, 1, Deliverable(note="我也做了"))
    await services.problems.submit(solver, tid, 1, Deliverable(note="小样与检测报告 BG-001"))
    for stranger in (solver, problem.loser, problem.parties.operator):
        with pytest.raises(Forbidden):
            await services.problems.decide(stranger, tid, 1, Decision(decision="accept"))
    assert await _balance(services, f"seller:{solver.id}:CNY") == 0
    accepted = await services.problems.decide(owner, tid, 1, Decision(decision="accept"))
    await _ledger_holds(services)
    assert accepted["milestones"][0]["status"] == "accepted" and accepted["milestones"][0]["released_by"] == "owner"
    assert await _balance(services, ESCROW.format(tid)) == BUDGET - SHARES[0]
    assert await _balance(services, f"seller:{solver.id}:CNY") == 0  # credited, then paid out
    paid = await services.problems.problem(solver, tid)
    assert [(p["seq"], p["amount"], p["status"]) for p in paid["payouts"]] == [(1, SHARES[0], "to_send")]
    async with services.pool.acquire() as conn:
        release = await ledger.get_transfer(conn, f"problem:{tid}:m1:release")
        payout = await ledger.get_transfer(conn, f"problem:{tid}:m1:payout")
    assert release is not None and release.amount == SHARES[0] and release.credit_account == f"seller:{solver.id}:CNY"
    assert payout is not None and payout.debit_account == f"seller:{solver.id}:CNY"
    with pytest.raises(Conflict, match="accepted"):
        await services.problems.decide(owner, tid, 1, Decision(decision="accept"))
    await services.problems.submit(solver, tid, 2, Deliverable(note="中试线验证报告"))
    done = await services.problems.decide(owner, tid, 2, Decision(decision="accept"))
    await _ledger_holds(services)
    assert done["status"] == "completed" and await _balance(services, ESCROW.format(tid)) == 0


async def test_a_rejection_needs_reasons_and_the_solver_may_resubmit(services: Services, clock: FixedClock) -> None:
    problem = await _funded(services, clock)
    owner, solver, tid = problem.parties.owner, problem.solver, problem.tender_id
    await services.problems.submit(solver, tid, 1, Deliverable(note="小样"))
    with pytest.raises(ValidationFailed):
        await services.problems.decide(owner, tid, 1, Decision(decision="reject"))
    rejected = await services.problems.decide(owner, tid, 1, Decision(decision="reject", reasons="电导率不达标"))
    assert rejected["milestones"][0]["status"] == "rejected"
    assert [s["step"] for s in rejected["steps"]] == ["submitted", "rejected"]
    again = await services.problems.submit(solver, tid, 1, Deliverable(note="改进后的小样"))
    assert again["milestones"][0]["status"] == "submitted"
    await _ledger_holds(services)
    assert await _balance(services, ESCROW.format(tid)) == BUDGET


async def test_an_objection_to_a_rejection_is_arbitrated_by_an_operator(services: Services, clock: FixedClock) -> None:
    problem = await _funded(services, clock)
    owner, solver, operator, tid = problem.parties.owner, problem.solver, problem.parties.operator, problem.tender_id
    await services.problems.submit(solver, tid, 1, Deliverable(note="小样与检测报告"))
    await services.problems.decide(owner, tid, 1, Decision(decision="reject", reasons="报告不是第三方出具"))
    with pytest.raises(Forbidden):
        await services.problems.object(owner, tid, 1, ObjectionInput(grounds="x"))
    objected = await services.problems.object(solver, tid, 1, ObjectionInput(grounds="检测机构具备 CMA 资质"))
    assert objected["milestones"][0]["status"] == "objected"
    with pytest.raises(Conflict):  # the owner no longer decides: the operator does
        await services.problems.decide(owner, tid, 1, Decision(decision="accept"))
    for party in (owner, solver):
        with pytest.raises(Forbidden):
            await services.problems.arbitrate(party, tid, 1, Arbitration(decision="release", reasons="x"))
    released = await services.problems.arbitrate(operator, tid, 1, Arbitration(
        decision="release", reasons="检测机构资质有效，验收标准已满足"))
    await _ledger_holds(services)
    assert released["milestones"][0]["released_by"] == "arbitration"
    assert await _balance(services, ESCROW.format(tid)) == BUDGET - SHARES[0]

    await services.problems.submit(solver, tid, 2, Deliverable(note="中试线报告"))
    await services.problems.decide(owner, tid, 2, Decision(decision="reject", reasons="产能不足"))
    await services.problems.object(solver, tid, 2, ObjectionInput(grounds="产能满足合同"))
    upheld = await services.problems.arbitrate(operator, tid, 2, Arbitration(decision="uphold", reasons="产能确不足"))
    await _ledger_holds(services)
    assert upheld["milestones"][1]["status"] == "upheld"
    assert await _balance(services, ESCROW.format(tid)) == BUDGET - SHARES[0]
    with pytest.raises(Conflict, match="nothing to object to"):
        await services.problems.object(solver, tid, 2, ObjectionInput(grounds="再议"))
    resubmitted = await services.problems.submit(solver, tid, 2, Deliverable(note="扩产后的报告"))
    assert resubmitted["milestones"][1]["status"] == "submitted"


async def test_the_solver_may_object_to_the_owner_silence_past_the_acceptance_window(
    services: Services, clock: FixedClock,
) -> None:
    problem = await _funded(services, clock)
    solver, tid = problem.solver, problem.tender_id
    submitted = await services.problems.submit(solver, tid, 1, Deliverable(note="小样"))
    with pytest.raises(Conflict, match="has until"):
        await services.problems.object(solver, tid, 1, ObjectionInput(grounds="业主未答复"))
    until = datetime.fromisoformat(submitted["milestones"][0]["window_until"])
    assert until - clock.now() > timedelta(days=14)  # ten working days, over weekends and the Qingming holiday
    clock.set(until - timedelta(seconds=1))
    with pytest.raises(Conflict, match="has until"):
        await services.problems.object(solver, tid, 1, ObjectionInput(grounds="业主未答复"))
    clock.set(until)
    objected = await services.problems.object(solver, tid, 1, ObjectionInput(grounds="业主逾期未验收"))
    assert objected["milestones"][0]["status"] == "objected"


async def test_unspent_budget_is_refunded_to_the_owner(services: Services, clock: FixedClock) -> None:
    problem = await _funded(services, clock)
    owner, solver, operator, tid = problem.parties.owner, problem.solver, problem.parties.operator, problem.tender_id
    await services.problems.submit(solver, tid, 1, Deliverable(note="小样"))
    await services.problems.decide(owner, tid, 1, Decision(decision="accept"))
    await services.problems.submit(solver, tid, 2, Deliverable(note="中试线报告"))
    await services.problems.decide(owner, tid, 2, Decision(decision="reject", reasons="未达标"))
    with pytest.raises(Conflict, match="objected to until"):
        await services.problems.cancel(owner, tid)
    await services.problems.object(solver, tid, 2, ObjectionInput(grounds="已达标"))
    with pytest.raises(Conflict, match="objected"):
        await services.problems.cancel(owner, tid)
    await services.problems.arbitrate(operator, tid, 2, Arbitration(decision="uphold", reasons="确未达标"))
    with pytest.raises(Forbidden):
        await services.problems.cancel(solver, tid)
    closed = await services.problems.cancel(owner, tid)
    await _ledger_holds(services)
    assert closed["status"] == "cancelled"
    assert [m["status"] for m in closed["milestones"]] == ["accepted", "cancelled"]
    assert closed["escrow"]["refunded"] == SHARES[1] and closed["escrow"]["held"] == 0
    refunds = await services.settlement.payouts(operator, status="to_send")
    assert {(p["payee_id"], p["purpose"], p["amount"]) for p in refunds} >= {
        (owner.id, "refund", SHARES[1]), (solver.id, "milestone", SHARES[0])}
    with pytest.raises(Conflict):
        await services.problems.submit(solver, tid, 2, Deliverable(note="再交"))


async def test_parties_see_their_own_money_and_nobody_else(services: Services, clock: FixedClock) -> None:
    problem = await _funded(services, clock)
    owner, solver, tid = problem.parties.owner, problem.solver, problem.tender_id
    await services.problems.submit(solver, tid, 1, Deliverable(note="保密的交付说明"))
    await services.problems.decide(owner, tid, 1, Decision(decision="accept"))
    public = await services.problems.problem(problem.loser, tid)
    assert public["escrow"] is None and public["payouts"] is None and public["steps"] is None
    assert public["milestones"][0]["deliverable"] is None and public["milestones"][0]["status"] == "accepted"
    mine = await services.problems.problem(owner, tid)
    assert mine["escrow"]["held"] == BUDGET - SHARES[0] and mine["payouts"] is None
    theirs = await services.problems.problem(solver, tid)
    assert theirs["escrow"] is None and theirs["payouts"][0]["amount"] == SHARES[0]
    assert theirs["milestones"][0]["deliverable"] == "保密的交付说明"
    assert [e["tender_id"] for e in await services.problems.escrows(problem.loser)] == []
    assert [e["tender_id"] for e in await services.problems.escrows(owner)] == [tid]


async def test_the_ledger_check_catches_money_leaving_a_problem_escrow_without_a_milestone(
    services: Services, clock: FixedClock,
) -> None:
    problem = await _funded(services, clock)
    async with services.pool.acquire() as conn, conn.transaction():
        await ledger.transfer(conn, "rogue", money.escrow(problem.tender_id, "CNY"), ledger.seller(problem.solver.id, "CNY"),
                              1, clock.now(), memo="not a milestone")
    async with services.pool.acquire() as conn:
        failed = {f.invariant for f in await check(conn)}
    assert failed == {"each problem tender's escrow holds its budget less what was released or refunded"}
