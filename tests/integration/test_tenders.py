"""Tenders (招标) on real PostgreSQL: each test is named after the rule it checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from exchange.clock import FixedClock
from exchange.errors import Conflict, Forbidden, NotFound, ValidationFailed
from exchange.ledger.check import check
from exchange.services import Services
from exchange.tenders.sealing import CannotOpen
from exchange.tenders.types import (
    AnswerInput,
    CommitteeInput,
    ContractInput,
    MemberScores,
    ProposalInput,
    QuestionInput,
    TenderReview,
)
from matching_core.sealed_types import proposal_commitment
from tests.integration.tender_flow import (
    ESTIMATE,
    SECURITY,
    hold_security,
    past_deadline,
    propose,
    published_tender,
    tender_input,
    tender_parties,
)

COMMITTEE = ["评委甲", "评委乙", "评委丙", "评委丁", "评委戊"]


async def test_announcement_needs_a_deadline_20_days_after_the_documents_a_security_of_at_most_2_percent_and_a_price_weight_of_10_percent(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=0)
    now = clock.now()
    with pytest.raises(ValidationFailed) as failed:
        await services.tenders.announce(parties.owner, tender_input(
            now, deadline=now + timedelta(days=19), security=SECURITY + 1, evaluation="weighted", price_weight=999))
    assert set(failed.value.field_errors) == {"deadline", "security", "price_weight"}
    with pytest.raises(Forbidden):
        await services.tenders.announce(parties.operator, tender_input(now))
    ok = await services.tenders.announce(parties.owner, tender_input(
        now, deadline=now + timedelta(days=20), evaluation="weighted", price_weight=1000))
    assert ok["status"] == "submitted" and ok["questions_until"] is not None


async def test_a_tender_is_public_only_after_an_operator_approves_it(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=1)
    announced = await services.tenders.announce(parties.owner, tender_input(clock.now()))
    with pytest.raises(NotFound):
        await services.tenders.tender(parties.bidders[0], announced["id"])
    assert await services.tenders.tenders(None) == []
    with pytest.raises(Conflict):
        await services.tenders.request_security(parties.bidders[0], announced["id"])
    with pytest.raises(Forbidden):
        await services.tenders.review(parties.owner, announced["id"], TenderReview(decision="approve"))
    await services.tenders.review(parties.operator, announced["id"], TenderReview(decision="approve"))
    assert [t["id"] for t in await services.tenders.tenders(None)] == [announced["id"]]
    assert (await services.tenders.tender(None, announced["id"]))["status"] == "open"


async def test_questions_are_taken_until_10_days_before_the_deadline_and_answers_are_public(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=1)
    tender_id = await published_tender(services, parties, clock)
    asked = await services.tenders.ask(parties.bidders[0], tender_id, QuestionInput(body="样品数量是否可以减少？"))
    await services.tenders.answer(parties.owner, tender_id, asked["id"], AnswerInput(answer="不可以，需 3 件。"))
    public = await services.tenders.tender(None, tender_id)
    assert [(q["body"], q["answer"]) for q in public["questions"]] == [("样品数量是否可以减少？", "不可以，需 3 件。")]
    with pytest.raises(Forbidden):
        await services.tenders.answer(parties.bidders[0], tender_id, asked["id"], AnswerInput(answer="x"))
    clock.advance(timedelta(days=11, seconds=1))  # the deadline is 21 days out: 10 days before it has passed
    with pytest.raises(Conflict, match="10 days before the deadline"):
        await services.tenders.ask(parties.bidders[0], tender_id, QuestionInput(body="还能问吗？", kind="objection"))


async def test_a_bidder_without_a_held_security_cannot_submit(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=1)
    tender_id = await published_tender(services, parties, clock)
    bidder = parties.bidders[0]
    with pytest.raises(Conflict, match="without a held bid security"):
        await services.tenders.submit_proposal(bidder, tender_id, ProposalInput(price=90_000_00, technical="方案"), "k1")
    security = await services.tenders.request_security(bidder, tender_id)
    assert security["status"] == "due" and security["reference_code"].startswith("S")
    with pytest.raises(Conflict, match="without a held bid security"):
        await services.tenders.submit_proposal(bidder, tender_id, ProposalInput(price=90_000_00, technical="方案"), "k1")
    held = await hold_security(services, parties, tender_id, bidder)  # request again: the same security
    assert held["status"] == "held" and held["amount"] == SECURITY
    receipt = await services.tenders.submit_proposal(bidder, tender_id, ProposalInput(price=90_000_00, technical="方案"), "k1")
    assert len(receipt["commitment"]) == 64
    async with services.pool.acquire() as conn:
        assert await check(conn) == []


async def test_the_receipt_is_the_commitment_anyone_can_check_after_the_opening(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    receipts = [await propose(services, parties, tender_id, b, p, f"方案 {i}")
                for i, (b, p) in enumerate(zip(parties.bidders, [90_000_00, 80_000_00, 85_000_00], strict=True))]
    assert await past_deadline(services, clock, tender_id) == {"opened": 1, "retender": 0, "awarded": 0, "refunded": 0}
    opening = (await services.tenders.tender(None, tender_id))["opening"]
    for receipt, opened in zip(receipts, opening, strict=True):
        assert opened["commitment"] == receipt["commitment"]
        assert proposal_commitment(str(opened["bidder_id"]), opened["price"], opened["documents_digest"],
                                   opened["nonce"]) == receipt["commitment"]


async def test_fewer_than_three_proposals_means_no_opening_and_a_re_tender(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    for bidder, price in zip(parties.bidders[:2], [90_000_00, 80_000_00], strict=True):
        await propose(services, parties, tender_id, bidder, price)
    await services.tenders.request_security(parties.bidders[2], tender_id)  # requested, never paid
    assert (await past_deadline(services, clock, tender_id))["retender"] == 1
    tender = await services.tenders.tender(parties.owner, tender_id)
    assert tender["status"] == "retender" and tender["opening"] is None
    securities = await services.tenders.securities(parties.operator)
    assert sorted(s["status"] for s in securities) == ["lapsed", "refunded", "refunded"]
    refunds = [p for p in await services.settlement.payouts(parties.operator) if p["purpose"] == "refund"]
    assert sorted(p["amount"] for p in refunds) == [SECURITY, SECURITY]
    again = await services.tenders.retender(parties.owner, tender_id, tender_input(clock.now()))
    assert again["status"] == "submitted" and again["retender_of"] == tender_id
    with pytest.raises(Conflict, match="already re-announced"):
        await services.tenders.retender(parties.owner, tender_id, tender_input(clock.now()))
    async with services.pool.acquire() as conn:
        assert await check(conn) == []


async def test_public_opening_at_the_deadline_publishes_bidder_names_and_prices(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    prices = [90_000_00, 80_000_00, 85_000_00]
    for bidder, price in zip(parties.bidders, prices, strict=True):
        await propose(services, parties, tender_id, bidder, price)
    before = await services.tenders.tender(None, tender_id)
    assert before["proposals"] == 3 and before["opening"] is None
    await past_deadline(services, clock, tender_id)
    opened = await services.tenders.tender(None, tender_id)
    assert opened["status"] == "opened"
    assert [(o["bidder_name"], o["price"]) for o in opened["opening"]] == [
        (b.display_name, p) for b, p in zip(parties.bidders, prices, strict=True)]


async def test_the_committee_is_an_odd_number_of_at_least_five_and_ranks_up_to_three_candidates_by_average_score(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=4)
    tender_id = await published_tender(services, parties, clock, evaluation="weighted", price_weight=3000)
    prices = [100_000_00, 80_000_00, 90_000_00, 95_000_00]
    for bidder, price in zip(parties.bidders, prices, strict=True):
        await propose(services, parties, tender_id, bidder, price)
    await past_deadline(services, clock, tender_id)
    for bad in (COMMITTEE[:4], COMMITTEE[:3]):
        with pytest.raises(ValidationFailed):
            await services.tenders.set_committee(parties.operator, tender_id, CommitteeInput(members=bad))
    await services.tenders.set_committee(parties.operator, tender_id, CommitteeInput(members=COMMITTEE))
    assert (await services.tenders.tender(None, tender_id))["committee"] is None  # secret until the award
    technical = [95, 60, 70, 80]
    ids = [b.id for b in parties.bidders]
    with pytest.raises(ValidationFailed):
        await services.tenders.score(parties.operator, tender_id, MemberScores(member=0, scores={str(ids[0]): 101}))
    for member in range(5):
        answer = await services.tenders.score(parties.operator, tender_id, MemberScores(
            member=member, scores={str(i): s for i, s in zip(ids, technical, strict=True)}))
    assert answer["ranked"] is True
    tender = await services.tenders.tender(None, tender_id)
    assert tender["status"] == "candidates"
    # price part: 10000 * 80 / price; total = 30% price + 70% technical (points * 100)
    expected = sorted(((3000 * (10_000 * 80_000_00 // p) + 7000 * t * 100) // 10_000, b.display_name)
                      for b, p, t in zip(parties.bidders, prices, technical, strict=True))[::-1][:3]
    assert [(c["score"], c["bidder_name"]) for c in tender["candidates"]] == expected
    assert [c["rank"] for c in tender["candidates"]] == [1, 2, 3]


async def _ranked_by_price(services: Services, clock: FixedClock) -> tuple[object, int]:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    for bidder, price in zip(parties.bidders, [90_000_00, 80_000_00, 85_000_00], strict=True):
        await propose(services, parties, tender_id, bidder, price)
    await past_deadline(services, clock, tender_id)
    await services.tenders.set_committee(parties.operator, tender_id, CommitteeInput(members=COMMITTEE))
    return parties, tender_id


async def test_an_objection_to_the_candidates_pauses_the_award_until_answered(services: Services, clock: FixedClock) -> None:
    parties, tender_id = await _ranked_by_price(services, clock)
    loser = parties.bidders[0]  # type: ignore[attr-defined]
    objection = await services.tenders.ask(loser, tender_id, QuestionInput(body="第一名资质存疑。", kind="objection"))
    assert objection["stage"] == "candidates"
    clock.advance(timedelta(days=3, seconds=1))
    assert (await services.tenders.sweep())["awarded"] == 0
    with pytest.raises(Conflict, match="paused"):
        await services.tenders.award(parties.owner, tender_id)  # type: ignore[attr-defined]
    public = await services.tenders.tender(None, tender_id)
    assert public["questions"][0]["answer_due"] is not None
    await services.tenders.answer(parties.owner, tender_id, objection["id"],  # type: ignore[attr-defined]
                                  AnswerInput(answer="经核查资质有效。"))
    assert (await services.tenders.sweep())["awarded"] == 1


async def test_award_to_rank_one_publishes_the_committee_and_the_contract_refunds_every_security(
    services: Services, clock: FixedClock,
) -> None:
    parties, tender_id = await _ranked_by_price(services, clock)
    bidders = parties.bidders  # type: ignore[attr-defined]
    with pytest.raises(Conflict, match="published until"):
        await services.tenders.award(parties.owner, tender_id)  # type: ignore[attr-defined]
    clock.advance(timedelta(days=3, seconds=1))
    awarded = await services.tenders.award(parties.owner, tender_id)  # type: ignore[attr-defined]
    assert awarded["status"] == "awarded"
    assert awarded["award"]["bidder_id"] == bidders[1].id and awarded["award"]["price"] == 80_000_00
    assert awarded["committee"] == COMMITTEE
    with pytest.raises(Forbidden):
        await services.tenders.record_contract(bidders[1], tender_id, ContractInput(note="x"))
    done = await services.tenders.record_contract(parties.owner, tender_id, ContractInput(note="合同编号 HT-1"))  # type: ignore[attr-defined]
    assert done["status"] == "contracted"
    securities = await services.tenders.securities(parties.operator)  # type: ignore[attr-defined]
    assert [s["status"] for s in securities] == ["refunded"] * 3
    async with services.pool.acquire() as conn:
        assert await check(conn) == []
        held = await conn.fetchval(
            "SELECT credits_posted - debits_posted FROM ledger_accounts WHERE code = 'escrow:tender-securities:CNY'")
    assert held == 0


async def test_a_deadline_that_passed_while_the_exchange_was_down_is_applied_by_the_sweep_at_start(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    for bidder, price in zip(parties.bidders, [90_000_00, 80_000_00, 85_000_00], strict=True):
        await propose(services, parties, tender_id, bidder, price)
    clock.advance(timedelta(days=40))  # down over the deadline
    from exchange.tenders.service import (
        TenderService,  # a fresh process's service over the same database
    )

    restarted = TenderService(services.pool, clock, services.calendar, "another-process-secret")
    with pytest.raises(CannotOpen, match="was EXCHANGE_SECRET changed"):  # a different exchange secret
        await restarted.sweep()
    assert (await services.tenders.sweep())["opened"] == 1
    assert (await services.tenders.tender(None, tender_id))["status"] == "opened"


async def test_estimate_and_price_are_integers_in_minor_units(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=1)
    with pytest.raises(ValidationFailed) as failed:
        await services.tenders.announce(parties.owner, tender_input(clock.now(), estimate=0))
    assert "estimate" in failed.value.field_errors
    tender_id = await published_tender(services, parties, clock, security=0)
    with pytest.raises(ValidationFailed):
        await services.tenders.submit_proposal(parties.bidders[0], tender_id, ProposalInput(price=-5, technical="a"), "k")
    assert ESTIMATE > 0
