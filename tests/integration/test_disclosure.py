"""Public disclosure on real PostgreSQL: one append-only hash chain, published with each fact."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from exchange import disclosure
from exchange.clock import FixedClock
from exchange.disclosure import DisclosureService, Kind, Notice
from exchange.disclosure import repository as repo
from exchange.disclosure.notices import DEAL_ANNOUNCEMENT_WD
from exchange.disclosure.types import GENESIS, expected_hash
from exchange.disclosure.verify import verify
from exchange.services import Services
from exchange.settlement.types import Objection, Ruling
from tests.integration.conftest_auctions import make_parties
from tests.integration.disclosure_flow import PRICE, chain, delivered, engine, exchange_verify, sold
from tests.integration.settlement_flow import open_and_close, qualified_auction

__all__ = ["engine"]


def _notice(clock: FixedClock, subject: str, **body: object) -> Notice:
    return Notice(kind=Kind.LISTING_ANNOUNCEMENT, procedure="TT2026999999", subject=subject,
                  published_at=clock.now(), body=dict(body))


async def test_approving_a_listing_publishes_its_announcement_for_the_announcement_period(
    services: Services,
) -> None:
    parties = await make_parties(services, investors=0)
    listing = await services.listings.get_for(parties.operator, parties.listing_id)
    (record,) = await chain(services)
    assert (record.seq, record.kind, record.procedure, record.prev_hash) == (
        1, "listing_announcement", listing.reference_no, GENESIS)
    assert record.open_until == listing.announcement_end and record.published_at == listing.announcement_start
    body = record.body
    assert body["listing_price"] == listing.listing_price and body["deposit"] == listing.deposit
    assert body["terms"] == listing.terms and body["bidder_conditions"] == listing.bidder_conditions
    assert body["method"] == "english_auction" and body["item"]["title"] == listing.title
    assert record.hash == expected_hash(record)


async def test_a_returned_listing_publishes_nothing(services: Services) -> None:
    from exchange.achievements.types import AchievementInput
    from exchange.listings.types import ListingInput, Review

    parties = await make_parties(services, investors=0)
    achievement = await services.achievements.record(parties.other_institution, AchievementInput(
        title="一种土壤改良剂", summary="盐碱地改良。", field="modern_agriculture", kind="patent",
        funding_source="non_public", maturity="pilot"))
    listing = await services.listings.submit(parties.other_institution, ListingInput(
        achievement_id=achievement.id, listing_price=50_000_00, terms="一次付清。", bidder_conditions="企业法人。"))
    await services.listings.review(parties.operator, listing.id, Review(decision="return", reasons="补充评估报告"))
    assert [r.kind for r in await chain(services)] == ["listing_announcement"]  # the first listing's only


async def test_a_disclosure_record_can_never_be_updated_or_deleted(services: Services) -> None:
    await make_parties(services, investors=0)
    async with services.pool.acquire() as conn:
        for statement in ("UPDATE disclosures SET body = '{}'", "DELETE FROM disclosures",
                          "TRUNCATE disclosures CASCADE"):
            with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="append-only"):
                await conn.execute(statement)
        assert await conn.fetchval("SELECT count(*) FROM disclosures") == 1


async def test_a_correction_is_a_new_record_referencing_the_old(services: Services, clock: FixedClock) -> None:
    await make_parties(services, investors=0)
    (original,) = await chain(services)
    clock.advance(timedelta(hours=1))
    async with services.pool.acquire() as conn, conn.transaction():
        fixed = await disclosure.correct(conn, original.seq, original.body | {"terms": "合同签订后 15 个工作日内付清。"},
                                         "the terms were published with the wrong payment period", clock.now())
    assert (fixed.seq, fixed.corrects, fixed.kind, fixed.procedure) == (2, 1, original.kind, original.procedure)
    assert fixed.prev_hash == original.hash and fixed.body["correction_reason"].startswith("the terms")
    found, corrections, corrected = await DisclosureService(services.pool, clock).record(original.seq)
    assert found == original  # the original stands as it was published
    assert [c.seq for c in corrections] == [2] and corrected is None
    assert (await DisclosureService(services.pool, clock).record(2))[2] == original


async def test_a_fact_published_twice_is_one_record(services: Services, clock: FixedClock) -> None:
    async with services.pool.acquire() as conn, conn.transaction():
        first = await disclosure.publish(conn, _notice(clock, "TT2026999999", price=1))
        again = await disclosure.publish(conn, _notice(clock, "TT2026999999", price=1))
    assert first is not None and again == first
    assert len(await chain(services)) == 1


async def test_a_fact_whose_transaction_fails_leaves_no_record(services: Services, clock: FixedClock) -> None:
    with pytest.raises(RuntimeError):
        async with services.pool.acquire() as conn, conn.transaction():
            await disclosure.publish(conn, _notice(clock, "X1", price=1))
            raise RuntimeError("the fact itself failed to commit")
    async with services.pool.acquire() as conn, conn.transaction():
        record = await disclosure.publish(conn, _notice(clock, "X2", price=2))
    assert record is not None and (record.seq, record.prev_hash) == (1, GENESIS)


async def test_concurrent_publishers_never_fork_the_chain(services: Services, clock: FixedClock) -> None:
    async def publish(n: int) -> None:
        async with services.pool.acquire() as conn, conn.transaction():
            await disclosure.publish(conn, _notice(clock, f"S{n}", n=n))
            await asyncio.sleep(0.001)  # hold the chain a moment inside the transaction

    await asyncio.gather(*(publish(n) for n in range(30)))
    records = await chain(services)
    assert [r.seq for r in records] == list(range(1, 31))
    assert all(r.prev_hash == p.hash for p, r in zip(records, records[1:], strict=False))
    async with services.pool.acquire() as conn:
        assert (await verify(conn)).ok


async def test_a_sale_publishes_its_auction_notice_deal_announcement_and_certificate(
    engine: Services, clock: FixedClock,
) -> None:
    sale, trade_id = await delivered(engine, clock)
    listing = await engine.listings.get_for(sale.parties.operator, sale.parties.listing_id)
    records = await chain(engine)
    assert [r.kind for r in records] == ["listing_announcement", "auction_notice", "deal_announcement"]
    notice, deal = records[1], records[2]
    assert notice.procedure == deal.procedure == listing.reference_no
    assert notice.open_until == notice.published_at + timedelta(minutes=1)  # spec() opens a minute later
    assert notice.body["start_price"] == 100_000 and notice.body["deposit"] == listing.deposit
    assert notice.body["rules"]["quiet_period_s"] == 300
    buyer = sale.parties.investors[0]
    assert deal.body["price"] == PRICE and deal.body["sold"] is True
    assert deal.body["parties"]["buyer"] == buyer.display_name and deal.body["parties"]["buyer_code"] == "A001"
    assert deal.body["parties"]["seller"] == sale.parties.seller.display_name
    assert deal.open_until == engine.calendar.period_end(deal.published_at, DEAL_ANNOUNCEMENT_WD)
    released = await engine.trades.accept_delivery(buyer, trade_id)
    certificate = await engine.trades.certificate(released["certificate_no"])
    last = (await chain(engine))[-1]
    assert (last.kind, last.subject, last.open_until) == ("transaction_certificate", released["certificate_no"], None)
    assert last.body == {"certificate": certificate["body"], "digest": certificate["digest"]}
    async with engine.pool.acquire() as conn:
        report = await verify(conn)
    assert report.ok and (report.records, report.auctions) == (4, 1), report.problems


async def test_an_auction_that_closes_unsold_publishes_its_failure_once(engine: Services, clock: FixedClock) -> None:
    sale = await qualified_auction(engine, clock, investors=1)
    await open_and_close(engine, clock, sale, [])
    await engine.settlement.settle_auction(sale.auction_id)  # a repeated close publishes nothing new
    failed = [r for r in await chain(engine) if r.kind == "auction_failed"]
    assert len(failed) == 1 and failed[0].body["sold"] is False and failed[0].body["auction_id"] == sale.auction_id
    assert failed[0].open_until is not None and failed[0].open_until > clock.now()
    async with engine.pool.acquire() as conn:
        assert (await verify(conn)).ok


async def test_the_operator_ruling_on_an_objection_is_published(engine: Services, clock: FixedClock) -> None:
    sale, trade_id = await delivered(engine, clock)
    await engine.trades.object_to_delivery(sale.parties.investors[0], trade_id, Objection(reason="not registered"))
    await engine.trades.rule_on_objection(sale.parties.operator, trade_id, Ruling(
        outcome="rescind", reasons="no assignment was registered"))
    last = (await chain(engine))[-1]
    assert last.kind == "objection_outcome" and last.body["outcome"] == "rescind"
    assert last.body["objection"] == "not registered" and last.body["ruling"] == "no assignment was registered"


async def test_exchange_verify_names_a_record_edited_behind_the_trigger(
    engine: Services, clock: FixedClock, database_url: str, redis_url: str, tmp_path: Path,
) -> None:
    await sold(engine, clock)
    code, out = await exchange_verify(database_url, redis_url, str(tmp_path))
    assert code == 0, out
    assert "disclosure chain of 3 records intact; 1 closed auctions re-derived" in out
    async with engine.pool.acquire() as conn:  # a superuser's hand edit of the published deal price
        await conn.execute("ALTER TABLE disclosures DISABLE TRIGGER disclosures_no_update_or_delete")
        await conn.execute("UPDATE disclosures SET body = jsonb_set(body, '{start_price}', '1') WHERE seq = 2")
        await conn.execute("ALTER TABLE disclosures ENABLE TRIGGER disclosures_no_update_or_delete")
    code, out = await exchange_verify(database_url, redis_url, str(tmp_path))
    assert code == 1
    assert "FAILED: disclosure record 2 (auction_notice" in out and "broken at record 2" in out


async def test_exchange_verify_reports_an_outcome_that_differs_from_the_auction_events(
    engine: Services, clock: FixedClock, database_url: str, redis_url: str, tmp_path: Path,
) -> None:
    sale, _ = await sold(engine, clock)
    async with engine.pool.acquire() as conn:
        deal = await repo.latest_result(conn, sale.auction_id)
        assert deal is not None
        # a correction chained properly, but publishing a price the bids never reached
        async with conn.transaction():
            await disclosure.correct(conn, deal.seq, deal.body | {"price": PRICE - 1_000_000}, "typo", clock.now())
    code, out = await exchange_verify(database_url, redis_url, str(tmp_path))
    assert code == 1
    assert "intact" in out
    assert f"auction {sale.auction_id}" in out and "disclosure record 4 (deal_announcement) publishes" in out
    assert f"price={PRICE - 1_000_000}" in out and f"price={PRICE}" in out
    async with engine.pool.acquire() as conn:  # and the auctions row rewritten by hand
        await conn.execute("UPDATE auctions SET price = price + 100 WHERE id = $1", sale.auction_id)
        report = await verify(conn)
    assert any(f"auction {sale.auction_id}" in p and "the auctions row says" in p for p in report.problems)


async def _hand_edit(engine: Services, seq: int, **values: Any) -> None:
    """A superuser's edit behind the append-only trigger."""
    sets = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))
    async with engine.pool.acquire() as conn:
        await conn.execute("ALTER TABLE disclosures DISABLE TRIGGER disclosures_no_update_or_delete")
        await conn.execute(f"UPDATE disclosures SET {sets} WHERE seq = $1", seq, *values.values())
        await conn.execute("ALTER TABLE disclosures ENABLE TRIGGER disclosures_no_update_or_delete")


async def _verified(engine: Services) -> Any:
    async with engine.pool.acquire() as conn:
        return await verify(conn)


async def test_a_record_edited_and_rehashed_breaks_the_chain_at_the_next_record(
    engine: Services, clock: FixedClock,
) -> None:
    """A forger who edits the deal price and recomputes that record's hash leaves the next
    record pointing at the hash it replaced."""
    await sold(engine, clock)
    records = await chain(engine)
    forged = dataclasses.replace(records[1], body=records[1].body | {"start_price": 1})
    await _hand_edit(engine, forged.seq, body=forged.body, hash=expected_hash(forged))
    report = await _verified(engine)
    assert report.broken_seq == records[2].seq
    assert report.problems == [f"disclosure record {records[2].seq} ({records[2].kind} {records[2].procedure}): "
                               f"prev_hash {records[2].prev_hash[:16]}… is not the hash of record {forged.seq}"]


async def test_a_forger_who_also_relinks_the_next_record_is_caught_by_its_hash(
    engine: Services, clock: FixedClock,
) -> None:
    """The next record's prev_hash is part of what its own hash covers: relinking it to the forged
    record changes its content."""
    await sold(engine, clock)
    records = await chain(engine)
    forged = dataclasses.replace(records[1], body=records[1].body | {"start_price": 1})
    await _hand_edit(engine, forged.seq, body=forged.body, hash=expected_hash(forged))
    await _hand_edit(engine, records[2].seq, prev_hash=expected_hash(forged))
    report = await _verified(engine)
    assert report.broken_seq == records[2].seq
    assert "its content does not give its hash" in report.problems[0]


async def test_a_prev_hash_edited_alone_is_named(engine: Services, clock: FixedClock) -> None:
    await sold(engine, clock)
    records = await chain(engine)
    assert (await _verified(engine)).ok
    await _hand_edit(engine, records[1].seq, prev_hash="f" * 64)
    report = await _verified(engine)
    assert report.broken_seq == records[1].seq
    assert report.problems == [f"disclosure record {records[1].seq} ({records[1].kind} {records[1].procedure}): "
                               f"prev_hash ffffffffffffffff… is not the hash of record {records[0].seq}"]
