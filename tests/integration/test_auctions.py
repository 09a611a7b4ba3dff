"""Live auctions on real PostgreSQL and Redis: scheduling, admission, bids, timers, restart, feed."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from exchange.accounts.types import Registration
from exchange.auctions.service import AuctionService
from exchange.auctions.types import AuctionSpec, IncrementStep
from exchange.clock import FixedClock
from exchange.errors import Conflict, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from exchange.infra.embedded import EmbeddedRedis
from exchange.services import Services
from tests.integration.conftest_auctions import Parties, live_auction, make_parties, spec


@pytest.fixture
async def engine(services: Services) -> AsyncIterator[AuctionService]:
    await services.auctions.start()
    yield services.auctions
    await services.auctions.stop()


@pytest.fixture
async def parties(services: Services) -> Parties:
    return await make_parties(services, investors=3)


async def _open(engine: AuctionService, services: Services, parties: Parties, clock: FixedClock,
                **overrides: object) -> int:
    auction_id = await live_auction(engine, parties, clock.now(), **overrides)
    clock.advance(timedelta(minutes=1))
    await engine.fire_due()
    return auction_id


async def _stream(redis: aioredis.Redis, auction_id: int) -> list[dict[str, object]]:
    entries = await redis.xrange(f"lot:{auction_id}:events")
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def test_operator_schedules_approves_and_investors_bid_in_the_room(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction = await engine.schedule(parties.operator, parties.listing_id, spec(clock.now()))
    assert auction["status"] == "scheduled" and auction["phase"] == "scheduled"
    auction_id = auction["auction_id"]
    a, b, _ = parties.investors
    assert (await engine.approve_bidder(parties.operator, auction_id, a.id))["code"] == "A001"
    assert (await engine.approve_bidder(parties.operator, auction_id, b.id))["code"] == "A002"
    again = await engine.approve_bidder(parties.operator, auction_id, a.id)
    assert again["code"] == "A001"
    listed_bidders = await engine.bidders(parties.operator, auction_id)
    assert [(x["code"], x["account_id"]) for x in listed_bidders] == [("A001", a.id), ("A002", b.id)]
    with pytest.raises(Forbidden):
        await engine.bidders(a, auction_id)

    early = await engine.submit_bid(a, auction_id, "bid", 100_000, None)
    assert early["status"] == "rejected" and early["code"] == "not_open"

    clock.advance(timedelta(minutes=1))
    await engine.fire_due()
    first = await engine.submit_bid(a, auction_id, "bid", 100_000, None)
    assert first["status"] == "accepted" and first["you_lead"] and first["leader"] == "A001"
    assert first["minimum_bid"] == 101_000
    odd = await engine.submit_bid(b, auction_id, "bid", 101_500, None)
    assert odd["status"] == "rejected" and odd["code"] == "not_whole_increment" and odd["reason"]
    proxy = await engine.submit_bid(b, auction_id, "proxy", 110_000, None)
    assert proxy["status"] == "accepted" and proxy["price"] == 101_000 and proxy["leader"] == "A002"

    room_a = await engine.room(auction_id, a)
    room_b = await engine.room(auction_id, b)
    public = await engine.room(auction_id, None)
    assert public["price"] == 101_000 and public["leader"] == "A002" and public["phase"] == "free"
    assert public["status"] == "open" and public["bidder_count"] == 2 and public["you"] is None
    assert [(s["code"], s["amount"]) for s in public["ladder"]] == [("A002", 101_000), ("A001", 100_000)]
    assert room_b["you"] == {"code": "A002", "you_lead": True, "your_maximum": 110_000, "can_bid": True}
    assert room_a["you"]["you_lead"] is False and room_a["you"]["your_maximum"] is None
    assert "110000" not in json.dumps(public) and "110000" not in json.dumps(room_a)
    assert public["title"] and public["reference_no"].startswith("TT") and public["currency"] == "CNY"

    feed = await engine.events_after(auction_id, 0)
    assert [m["type"] for m in feed] == ["admitted", "admitted", "opened", "bid", "bid"]
    assert [m["seq"] for m in feed] == [1, 2, 3, 4, 5] and public["seq"] == 5
    assert feed[-1]["price"] == 101_000 and feed[-1]["leader"] == "A002" and "110000" not in json.dumps(feed)
    await engine.feed.drained()
    assert await _stream(services.redis, auction_id) == feed
    listed = await engine.list_auctions(None)
    assert [x["auction_id"] for x in listed] == [auction_id]
    straight = await engine.submit_bid(a, auction_id, "bid", 111_000, None)
    assert straight["you_lead"] and (await engine.room(auction_id, a))["you"]["your_maximum"] is None, \
        "a straight bid leaves no proxy maximum to show"


async def test_schedule_names_every_invalid_field(
    engine: AuctionService, parties: Parties, clock: FixedClock
) -> None:
    now = clock.now()
    bad = AuctionSpec(start_price=0, opens_at=now - timedelta(hours=1), scheduled_end=now - timedelta(hours=2),
                      increment=-5, reserve=-1, quiet_period_s=0, hard_cap=now - timedelta(hours=3))
    with pytest.raises(ValidationFailed) as refused:
        await engine.schedule(parties.operator, parties.listing_id, bad)
    assert set(refused.value.field_errors) == {
        "start_price", "reserve", "increment", "opens_at", "scheduled_end", "quiet_period_s", "hard_cap"
    }
    table = spec(now, increment=None, increment_table=[IncrementStep(100, 10), IncrementStep(50, 5)])
    with pytest.raises(ValidationFailed) as refused:
        await engine.schedule(parties.operator, parties.listing_id, table)
    assert set(refused.value.field_errors) == {"increment_table"}
    with pytest.raises(ValidationFailed):
        await engine.schedule(parties.operator, parties.listing_id, spec(now, increment=None))


async def test_only_an_operator_schedules_and_only_for_an_announced_listing(
    engine: AuctionService, parties: Parties, clock: FixedClock
) -> None:
    with pytest.raises(Forbidden):
        await engine.schedule(parties.seller, parties.listing_id, spec(clock.now()))
    with pytest.raises(NotAuthenticated):
        await engine.schedule(None, parties.listing_id, spec(clock.now()))
    with pytest.raises(NotFound):
        await engine.schedule(parties.operator, 999_999, spec(clock.now()))
    await engine.schedule(parties.operator, parties.listing_id, spec(clock.now()))
    with pytest.raises(Conflict):
        await engine.schedule(parties.operator, parties.listing_id, spec(clock.now()))


async def test_incremental_table_applies_by_price_band(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    table = [IncrementStep(0, 1_000), IncrementStep(105_000, 5_000)]
    auction_id = await _open(engine, services, parties, clock, increment=None, increment_table=table)
    a, b, _ = parties.investors
    assert (await engine.submit_bid(a, auction_id, "bid", 105_000, None))["minimum_bid"] == 110_000
    assert (await engine.submit_bid(b, auction_id, "bid", 106_000, None))["code"] == "below_minimum"
    assert (await engine.submit_bid(b, auction_id, "bid", 115_000, None))["status"] == "accepted"


async def test_only_approved_investors_bid_and_never_the_seller(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open(engine, services, parties, clock)
    outsider = await services.accounts.register(Registration(
        role="investor", email="late@capital.test", password="correct horse battery", display_name="late"))
    for account, error in [(parties.seller, Forbidden), (parties.other_institution, Forbidden),
                           (parties.operator, Forbidden), (None, NotAuthenticated), (outsider, Forbidden)]:
        with pytest.raises(error):
            await engine.submit_bid(account, auction_id, "bid", 100_000, None)
    with pytest.raises(Conflict):
        await engine.approve_bidder(parties.operator, auction_id, parties.seller.id)
    with pytest.raises(ValidationFailed):
        await engine.approve_bidder(parties.operator, auction_id, parties.other_institution.id)
    with pytest.raises(Forbidden):
        await engine.approve_bidder(parties.investors[0], auction_id, outsider.id)
    with pytest.raises(NotFound):
        await engine.submit_bid(parties.investors[0], 999_999, "bid", 100_000, None)
    with pytest.raises(ValidationFailed):
        await engine.submit_bid(parties.investors[0], auction_id, "bid", 0, None)
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM auction_events WHERE kind = 'bid'") == 0


async def test_concurrent_bidders_every_acknowledged_bid_stored_once_and_the_highest_wins(
    engine: AuctionService, services: Services, clock: FixedClock
) -> None:
    parties = await make_parties(services, investors=20)
    auction_id = await _open(engine, services, parties, clock)
    accepted: list[tuple[int, dict[str, object]]] = []

    async def bidder(index: int) -> None:
        account = parties.investors[index]
        rng = random.Random(index)
        minimum = 100_000
        for n in range(20):
            amount = minimum + rng.randrange(0, 3) * 1_000
            ack = await engine.submit_bid(account, auction_id, "bid", amount, f"k{n}")
            minimum = int(ack["minimum_bid"])  # type: ignore[call-overload]
            if ack["status"] == "accepted":
                accepted.append((account.id, ack))
            await asyncio.sleep(0)

    await asyncio.gather(*(bidder(i) for i in range(20)))
    assert engine.batches_committed < 400, "bids were not batched"
    async with services.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT seq, payload FROM auction_events WHERE auction_id = $1 AND kind = 'bid' ORDER BY seq",
            auction_id)
        requests = await conn.fetchval("SELECT count(*) FROM bid_requests WHERE auction_id = $1", auction_id)
    assert requests == 400
    assert sorted(int(ack["seq"]) for _, ack in accepted) == [r["seq"] for r in rows]  # type: ignore[call-overload]
    amounts = [r["payload"]["amount"] for r in rows]
    assert amounts == sorted(amounts) and len(set(amounts)) == len(amounts)
    ladder = [step["amount"] for step in (await engine.room(auction_id, None))["ladder"]]
    assert ladder == sorted(ladder, reverse=True) and len(set(ladder)) == len(ladder)

    top_bidder, top = max(accepted, key=lambda item: int(item[1]["amount"]))  # type: ignore[call-overload]
    clock.advance(timedelta(hours=2))
    assert await engine.fire_due() == [auction_id]
    room = await engine.room(auction_id, None)
    winner = next(a for a in parties.investors if a.id == top_bidder)
    assert room["result"]["sold"] and room["result"]["price"] == top["amount"]
    assert room["result"]["winner"] == top["your_code"] and room["result"]["winner_name"] == winner.display_name
    async with services.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, winner_id, price, sold FROM auctions WHERE id = $1", auction_id)
    assert dict(row) == {"status": "closed", "winner_id": top_bidder, "price": top["amount"], "sold": True}


async def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open(engine, services, parties, clock)
    a, b, _ = parties.investors
    first = await engine.submit_bid(a, auction_id, "bid", 100_000, "key-1")
    await engine.submit_bid(b, auction_id, "bid", 101_000, "key-1")  # another bidder's key space
    assert await engine.submit_bid(a, auction_id, "bid", 100_000, "key-1") == first
    with pytest.raises(Conflict):
        await engine.submit_bid(a, auction_id, "bid", 102_000, "key-1")
    refused = await engine.submit_bid(a, auction_id, "bid", 100_500, "key-2")
    assert refused["status"] == "rejected"

    await engine.stop()
    restarted = AuctionService(services.pool, services.redis, clock)
    await restarted.start()
    try:
        assert await restarted.submit_bid(a, auction_id, "bid", 100_000, "key-1") == first
        assert await restarted.submit_bid(a, auction_id, "bid", 100_500, "key-2") == refused
        with pytest.raises(Conflict):
            await restarted.submit_bid(a, auction_id, "proxy", 100_000, "key-1")
    finally:
        await restarted.stop()
    async with services.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM auction_events WHERE kind = 'bid'") == 2
    await engine.start()


async def test_a_bid_in_the_timed_rounds_extends_the_close_which_never_comes_early(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open(engine, services, parties, clock)
    a, b, _ = parties.investors
    end = clock.now() + timedelta(minutes=59)  # scheduled_end: opened one minute after scheduling
    clock.set(end - timedelta(seconds=10))
    first = await engine.submit_bid(a, auction_id, "bid", 100_000, None)
    assert first["phase"] == "free" and first["close_at"] == (end + timedelta(seconds=300)).isoformat()
    clock.set(end + timedelta(seconds=200))
    assert (await engine.room(auction_id, None))["phase"] == "timed"
    second = await engine.submit_bid(b, auction_id, "bid", 101_000, None)
    close_at = end + timedelta(seconds=500)
    assert second["phase"] == "timed" and second["close_at"] == close_at.isoformat()

    clock.set(close_at - timedelta(microseconds=1))
    assert await engine.fire_due() == []
    assert (await engine.room(auction_id, None))["status"] == "open"
    clock.set(close_at + timedelta(seconds=3))
    late = await engine.submit_bid(a, auction_id, "bid", 102_000, None)
    assert late["status"] == "rejected" and late["code"] == "auction_closed"
    assert late["phase"] == "closed", "the deadline before the late bid was applied first, at its time"
    assert await engine.fire_due() == [], "nothing is left to fire"
    room = await engine.room(auction_id, b)
    assert room["status"] == "closed" and room["phase"] == "closed"
    assert room["close_at"] == close_at.isoformat()
    assert room["result"] == {"sold": True, "price": 101_000, "winner": "A002",
                              "winner_name": parties.investors[1].display_name}
    feed = await engine.events_after(auction_id, room["seq"] - 1)
    assert feed[0]["type"] == "closed" and feed[0]["close_at"] == close_at.isoformat()
    async with services.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT closed_at, next_deadline FROM auctions WHERE id = $1", auction_id)
    assert row["closed_at"] == close_at and row["next_deadline"] is None
    with pytest.raises(Conflict, match="already been sold"):  # a sold lot is not auctioned again
        await engine.schedule(parties.operator, parties.listing_id, spec(clock.now()))


async def test_a_close_due_while_the_engine_was_down_is_applied_on_start_at_its_close_time(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    auction_id = await _open(engine, services, parties, clock, reserve=500_000)
    await engine.submit_bid(parties.investors[0], auction_id, "bid", 120_000, None)
    before = await engine.room(auction_id, None)
    await engine.stop()

    clock.advance(timedelta(days=3))
    restarted = AuctionService(services.pool, services.redis, clock)
    await restarted.start()
    try:
        assert (await restarted.room(auction_id, None))["seq"] == before["seq"]
        assert await restarted.fire_due() == [auction_id]
        room = await restarted.room(auction_id, None)
        assert room["close_at"] == before["close_at"]
        assert room["result"] == {"sold": False, "price": None, "winner": None, "winner_name": None}
        async with services.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT closed_at, sold FROM auctions WHERE id = $1", auction_id)
        assert row["closed_at"].isoformat() == before["close_at"] and row["sold"] is False
    finally:
        await restarted.stop()
    await engine.start()


async def test_the_event_log_refuses_updates_and_deletes(
    engine: AuctionService, services: Services, parties: Parties, clock: FixedClock
) -> None:
    await _open(engine, services, parties, clock)
    async with services.pool.acquire() as conn:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await conn.execute("UPDATE auction_events SET kind = 'bid'")
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await conn.execute("DELETE FROM auction_events")


async def test_bids_are_accepted_while_redis_is_down_and_the_feed_catches_up_when_it_returns(
    services: Services, parties: Parties, clock: FixedClock, tmp_path: Path
) -> None:
    server = EmbeddedRedis(tmp_path / "redis", persistent=False)
    server.start()
    redis = aioredis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1,
                                    retry=Retry(NoBackoff(), 0))  # the feed has its own backoff
    engine = AuctionService(services.pool, redis, clock, notice=timedelta(0))
    await engine.start()
    try:
        auction_id = await _open(engine, services, parties, clock)
        a, b, _ = parties.investors
        await engine.submit_bid(a, auction_id, "bid", 100_000, None)
        await engine.feed.drained()

        server.kill()
        acks = [await engine.submit_bid(bidder, auction_id, "bid", 101_000 + i * 1_000, None)
                for i, bidder in enumerate([b, a, b, a])]
        assert [ack["status"] for ack in acks] == ["accepted"] * 4
        async with services.pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT count(*) FROM auction_events WHERE auction_id = $1 AND kind = 'bid'", auction_id)
        assert stored == 5
        await asyncio.sleep(0.2)
        assert engine.feed.backlog == 4

        server.socket_path.unlink()  # a stale socket only slows the restart down
        server = EmbeddedRedis(tmp_path / "redis", persistent=False)
        server.start()
        await asyncio.wait_for(engine.feed.drained(), 10)
        republished = await _stream(redis, auction_id)
        assert [m["seq"] for m in republished] == [ack["seq"] for ack in acks]
        assert republished[-1]["price"] == 104_000
    finally:
        await engine.stop()
        await redis.aclose()
        server.stop()
