"""Builders for the problem tender tests: an announced tender with its problem, awarded to a solver."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from exchange.accounts.types import Account
from exchange.clock import FixedClock
from exchange.problems.types import MilestoneInput, ProblemInput
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from exchange.tenders.types import CommitteeInput, TenderReview
from tests.integration.tender_flow import (
    TenderParties,
    past_deadline,
    propose,
    tender_input,
    tender_parties,
)

BUDGET = 900_000_00
SHARES = (300_000_00, 600_000_00)
COMMITTEE = ["评委甲", "评委乙", "评委丙", "评委丁", "评委戊"]


def problem_input(budget: int = BUDGET, shares: tuple[int, ...] = SHARES) -> ProblemInput:
    titles = ["中试工艺路线与小样", "百公斤级中试线验证", "量产工艺包"]
    return ProblemInput(budget=budget, milestones=[
        MilestoneInput(title=titles[i], criteria=f"第 {i + 1} 阶段验收：离子电导率 ≥ 1 mS/cm，第三方检测报告。",
                       share=share, due_on=date(2026, 6 + i, 30)) for i, share in enumerate(shares)])


@dataclass
class Problem:
    parties: TenderParties
    tender_id: int
    solver: Account
    loser: Account


async def awarded_problem(services: Services, clock: FixedClock) -> Problem:
    """A problem tender announced with its budget and milestones, approved, opened and awarded:
    the cheapest of three bidders is the solver. The budget is not escrowed yet."""
    parties = await tender_parties(services, bidders=3)
    announced = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    tender_id: int = announced["id"]
    await services.problems.define(parties.owner, tender_id, problem_input())
    await services.tenders.review(parties.operator, tender_id, TenderReview(decision="approve"))
    for bidder, price in zip(parties.bidders, [90_000_00, 80_000_00, 85_000_00], strict=True):
        await propose(services, parties, tender_id, bidder, price)
    await past_deadline(services, clock, tender_id)
    await services.tenders.set_committee(parties.operator, tender_id, CommitteeInput(members=COMMITTEE))
    clock.advance(timedelta(days=3, seconds=1))
    await services.tenders.award(parties.owner, tender_id)
    return Problem(parties, tender_id, parties.bidders[1], parties.bidders[0])


async def escrow(services: Services, problem: Problem, amount: int = BUDGET, ref: str = "STMT-P1") -> None:
    view = await services.problems.problem(problem.parties.owner, problem.tender_id)
    await services.problems.fund(problem.parties.operator, BankTransfer(
        reference_code=view["escrow"]["reference_code"], amount=amount, statement_ref=ref))
