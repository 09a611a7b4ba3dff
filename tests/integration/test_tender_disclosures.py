"""A tender's public facts on the disclosure chain: announcement, opening, candidates, award and
answered objections, in the transaction of each fact, and nothing of a proposal before the opening."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from exchange.clock import FixedClock
from exchange.disclosure import DisclosureService, Record, correct
from exchange.disclosure.verify import Report, verify
from exchange.services import Services
from exchange.tenders.types import AnswerInput, CommitteeInput, QuestionInput
from tests.integration.disclosure_flow import chain
from tests.integration.tender_flow import (
    TenderParties,
    past_deadline,
    propose,
    published_tender,
    tender_parties,
)
from tests.ocds_schema import ocds_problems

COMMITTEE = ["评委甲", "评委乙", "评委丙", "评委丁", "评委戊"]
PRICES = [90_000_00, 80_000_00, 85_000_00]
SECRET_TECHNICAL = "保密技术路线：低温共烧陶瓷叠层工艺"


async def _proposals(services: Services, parties: TenderParties, tender_id: int) -> list[str]:
    receipts = [await propose(services, parties, tender_id, bidder, price, f"{SECRET_TECHNICAL} {i}")
                for i, (bidder, price) in enumerate(zip(parties.bidders, PRICES, strict=True))]
    return [r["commitment"] for r in receipts]


async def _objection_answered(services: Services, parties: TenderParties, tender_id: int, body: str) -> None:
    asked = await services.tenders.ask(parties.bidders[0], tender_id, QuestionInput(body=body, kind="objection"))
    await services.tenders.answer(parties.owner, tender_id, asked["id"], AnswerInput(answer=f"答复：{body}"))


async def _verified(services: Services) -> Report:
    """What `exchange verify` finds: the chain and every closed auction."""
    async with services.pool.acquire() as conn:
        return await verify(conn)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_tender_run_to_award_leaves_its_records_in_order_and_the_chain_verifies(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    await services.tenders.ask(parties.bidders[1], tender_id, QuestionInput(body="样品数量？"))  # a question: not a record
    await _objection_answered(services, parties, tender_id, "评标办法对中小企业不公平。")
    commitments = await _proposals(services, parties, tender_id)
    await past_deadline(services, clock, tender_id)
    await services.tenders.set_committee(parties.operator, tender_id, CommitteeInput(members=COMMITTEE))
    await _objection_answered(services, parties, tender_id, "第一名资质存疑。")
    clock.advance(timedelta(days=3, seconds=1))
    assert (await services.tenders.sweep())["awarded"] == 1

    records = await chain(services)
    reference = (await services.tenders.tender(None, tender_id))["reference_no"]
    assert [r.kind for r in records] == [
        "tender_announcement", "tender_objection_outcome", "tender_opening", "tender_candidates",
        "tender_objection_outcome", "tender_award"]
    assert {r.procedure for r in records} == {reference}
    announcement, announced_objection, opening, candidates, candidates_objection, award = records
    assert announcement.open_until == _instant(announcement.body["questions_until"])
    assert announcement.body["deadline"] and announcement.body["security"] > 0
    assert (announced_objection.body["stage"], candidates_objection.body["stage"]) == ("announcement", "candidates")
    assert candidates_objection.body["answer"] == "答复：第一名资质存疑。"
    names = [b.display_name for b in parties.bidders]
    assert [(p["bidder"], p["price"], p["commitment"]) for p in opening.body["proposals"]] == list(
        zip(names, PRICES, commitments, strict=True))
    assert [(c["rank"], c["bidder"], c["price"]) for c in candidates.body["candidates"]] == [
        (1, names[1], 80_000_00), (2, names[2], 85_000_00), (3, names[0], 90_000_00)]
    assert candidates.open_until is not None
    assert candidates.open_until - candidates.published_at >= timedelta(days=3)
    assert candidates.body["committee_size"] == 5 and "评委甲" not in json.dumps(candidates.body, ensure_ascii=False)
    assert (award.body["winner"], award.body["amount"], award.body["committee"]) == (names[1], 80_000_00, COMMITTEE)
    assert award.open_until is not None and award.open_until - award.published_at >= timedelta(days=3)
    assert (await _verified(services)).ok

    package = await DisclosureService(services.pool, clock).releases(reference, base_url="http://testserver/")
    assert ocds_problems(package) == []
    assert [r["tag"] for r in package["releases"]] == [
        ["tender"], ["tenderUpdate"], ["tenderUpdate"], ["award"], ["awardUpdate"], ["award", "contract"]]
    awarded = package["releases"][-1]
    assert awarded["awards"][0]["value"] == {"amount": 80_000, "currency": "CNY"}
    assert {p["name"]: p["roles"] for p in awarded["parties"]}[names[1]] == ["tenderer", "supplier"]


async def test_nothing_about_a_proposal_is_published_before_the_opening(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    commitments = await _proposals(services, parties, tender_id)
    secrets = [SECRET_TECHNICAL, *commitments, *(b.display_name for b in parties.bidders), *map(str, PRICES)]

    def published(records: list[Record]) -> str:
        return json.dumps([r.body for r in records], ensure_ascii=False)

    before = await chain(services)
    assert [r.kind for r in before] == ["tender_announcement"]
    assert not [s for s in secrets if s in published(before)]
    assert "proposals" not in before[0].body
    await past_deadline(services, clock, tender_id)
    after = published(await chain(services))
    assert all(s in after for s in [*commitments, *(b.display_name for b in parties.bidders)])
    assert SECRET_TECHNICAL not in after  # the technical documents are the committee's, not the public's


async def test_too_few_proposals_publish_a_re_tender_without_names_or_prices(
    services: Services, clock: FixedClock,
) -> None:
    parties = await tender_parties(services, bidders=2)
    tender_id = await published_tender(services, parties, clock)
    for bidder, price in zip(parties.bidders, PRICES[:2], strict=True):
        await propose(services, parties, tender_id, bidder, price)
    assert (await past_deadline(services, clock, tender_id))["retender"] == 1
    opening = (await chain(services))[-1]
    assert opening.kind == "tender_opening"
    assert (opening.body["opened"], opening.body["proposals_received"], opening.body["proposals"]) == (False, 2, [])


async def test_a_correction_to_a_tender_notice_is_a_new_record_naming_it(services: Services, clock: FixedClock) -> None:
    parties = await tender_parties(services, bidders=0)
    await published_tender(services, parties, clock)
    original = (await chain(services))[0]
    fixed = original.body | {"summary": "征集固态电解质中试工艺方案（更正：含样品 3 件）。"}
    async with services.pool.acquire() as conn, conn.transaction():
        correction = await correct(conn, original.seq, fixed, "样品数量遗漏", clock.now())
    records = await chain(services)
    assert [r.seq for r in records] == [original.seq, correction.seq]
    assert records[0] == original  # the original stays as it was
    assert (correction.kind, correction.corrects, correction.procedure) == (
        "tender_announcement", original.seq, original.procedure)
    assert correction.body["correction_reason"] == "样品数量遗漏" and correction.prev_hash == original.hash
    assert (await _verified(services)).ok


async def test_the_notice_board_filters_tender_records_by_kind(
    services: Services, clock: FixedClock, client: httpx.AsyncClient,
) -> None:
    parties = await tender_parties(services, bidders=3)
    tender_id = await published_tender(services, parties, clock)
    await _proposals(services, parties, tender_id)
    await past_deadline(services, clock, tender_id)
    reference = (await services.tenders.tender(None, tender_id))["reference_no"]
    board = await client.get("/disclosures", params={"kind": "tender_opening", "lang": "en"})
    assert board.status_code == 200 and "Tender opening" in board.text and reference in board.text
    assert "Tender announcement" in (await client.get("/disclosures?lang=en")).text
    feed = (await client.get("/api/disclosures", params={"procedure": reference})).json()
    assert [r["kind"] for r in feed["records"]] == ["tender_announcement", "tender_opening"]
