"""kill -9 in the middle of a bidding war: every acknowledged bid survives, bidding continues."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta

from exchange.auctions.lot import decode_event
from exchange.auctions.service import AuctionService
from exchange.clock import FixedClock, SystemClock
from exchange.config import PROJECT_ROOT
from exchange.services import Services
from matching_core.english import EnglishBook
from tests.integration.conftest_auctions import live_auction, make_parties

ACKS_BEFORE_KILL = 150


async def test_kill_9_mid_war_loses_no_acknowledged_bid_and_the_book_rebuilds_identically(
    services: Services, database_url: str, redis_url: str, clock: FixedClock
) -> None:
    clock.set(datetime.now(UTC))
    parties = await make_parties(services, investors=8)
    await services.auctions.start()
    auction_id = await live_auction(services.auctions, parties, clock.now(), opens_at=clock.now(),
                                    scheduled_end=clock.now() + timedelta(hours=1))
    await services.auctions.stop()

    driver = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.auction_driver", database_url, redis_url, str(auction_id),
        cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE, env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert driver.stdout is not None
    acked: list[tuple[int, int, int]] = []
    try:
        async with asyncio.timeout(60):
            while len(acked) < ACKS_BEFORE_KILL:
                line = (await driver.stdout.readline()).decode()
                assert line, "the driver exited early"
                if line.startswith("ACK "):
                    seq, amount, bidder = (int(x) for x in line.split()[1:])
                    acked.append((seq, amount, bidder))
    finally:
        driver.send_signal(signal.SIGKILL)
        rest = (await driver.stdout.read()).decode()
        await driver.wait()
    for line in rest.splitlines():
        if line.startswith("ACK "):
            seq, amount, bidder = (int(x) for x in line.split()[1:])
            acked.append((seq, amount, bidder))
    assert driver.returncode == -signal.SIGKILL

    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT seq, kind, payload FROM auction_events WHERE auction_id = $1 ORDER BY seq",
                                auction_id)
        stored = await conn.fetchrow("SELECT last_seq, state_hash FROM auctions WHERE id = $1", auction_id)
    bids = {r["seq"]: (r["payload"]["amount"], int(r["payload"]["bidder"])) for r in rows if r["kind"] == "bid"}
    for seq, amount, bidder in acked:
        assert bids.get(seq) == (amount, bidder), f"acknowledged bid {seq} is missing or different"
    assert len({seq for seq, _, _ in acked}) == len(acked)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1)) and stored["last_seq"] == len(rows)

    restarted = AuctionService(services.pool, services.redis, SystemClock())
    await restarted.start()
    try:
        lot = restarted.engine.sequencer.lot(auction_id)
        assert lot is not None and lot.seq == stored["last_seq"]
        replayed = EnglishBook.from_events(
            lot.info.terms, [e for r in rows if (e := decode_event(r["kind"], r["payload"])) is not None])
        assert lot.book.state_hash() == stored["state_hash"] == replayed.state_hash()

        room = await restarted.room(auction_id, None)
        challenger = next(a for a in parties.investors if str(a.id) != lot.committed.leader)
        ack = await restarted.submit_bid(challenger, auction_id, "bid", room["minimum_bid"], "after-restart")
        assert ack["status"] == "accepted" and ack["seq"] == stored["last_seq"] + 1
    finally:
        await restarted.stop()
