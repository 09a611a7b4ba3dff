"""English auction rules seen through the exchange: the auction notice (拍卖公告) public at least
7 days before the start (acceleration shortens it); anonymous bidder codes until the result."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from exchange.auctions.service import AUCTION_NOTICE_DAYS
from exchange.calendar import default_calendar
from exchange.clock import FixedClock
from exchange.errors import ValidationFailed
from exchange.services import Services
from tests.integration.conftest_auctions import live_auction, make_parties, spec


async def _notices(services: Services) -> list[dict[str, object]]:
    async with services.pool.acquire() as conn:
        rows = await conn.fetch("SELECT published_at, open_until FROM disclosures WHERE kind = 'auction_notice'")
    return [dict(row) for row in rows]


async def test_auction_notice_is_published_at_least_7_days_before_the_start(
    services: Services, clock: FixedClock
) -> None:
    services.auctions.notice = timedelta(days=AUCTION_NOTICE_DAYS)  # the exchange's default
    parties = await make_parties(services)
    now = clock.now()
    early = now + timedelta(days=7) - timedelta(minutes=1)
    with pytest.raises(ValidationFailed) as refused:
        await services.auctions.schedule(parties.operator, parties.listing_id,
                                         spec(now, opens_at=early, scheduled_end=early + timedelta(hours=1)))
    assert "opens_at" in refused.value.field_errors
    assert "7 days" in refused.value.field_errors["opens_at"]
    assert await _notices(services) == []  # nothing was published or scheduled
    assert await services.auctions.list_auctions() == []

    opens = now + timedelta(days=7)
    auction = await services.auctions.schedule(parties.operator, parties.listing_id,
                                               spec(now, opens_at=opens, scheduled_end=opens + timedelta(hours=1)))
    assert auction["status"] == "scheduled"
    [notice] = await _notices(services)
    assert notice["published_at"] == now
    assert notice["open_until"] == opens
    assert notice["open_until"] - notice["published_at"] >= timedelta(days=7)  # type: ignore[operator]


async def test_acceleration_shortens_the_auction_notice_without_changing_the_rule(
    services: Services, clock: FixedClock
) -> None:
    accelerated = Services.build(services.pool, services.redis, clock, default_calendar(1440))
    assert accelerated.auctions.notice == timedelta(minutes=7)  # 7 days at a day per minute
    parties = await make_parties(accelerated)
    now = clock.now()
    with pytest.raises(ValidationFailed) as refused:
        await accelerated.auctions.schedule(parties.operator, parties.listing_id, spec(
            now, opens_at=now + timedelta(minutes=6), scheduled_end=now + timedelta(hours=1)))
    assert "7 days (420 seconds at this exchange's acceleration of 1440)" in refused.value.field_errors["opens_at"]
    auction = await accelerated.auctions.schedule(parties.operator, parties.listing_id, spec(
        now, opens_at=now + timedelta(minutes=7), scheduled_end=now + timedelta(hours=1)))
    assert auction["status"] == "scheduled"


async def test_bidders_are_shown_by_anonymous_codes_until_the_result_names_the_winner_and_price(
    services: Services, clock: FixedClock
) -> None:
    engine = services.auctions
    await engine.start()
    try:
        parties = await make_parties(services, investors=2)
        auction_id = await live_auction(engine, parties, clock.now())
        clock.advance(timedelta(minutes=1))
        await engine.fire_due()
        a, b = parties.investors
        await engine.submit_bid(a, auction_id, "bid", 100_000, None)
        await engine.submit_bid(b, auction_id, "bid", 101_000, None)
        names = {a.display_name, a.email, b.display_name, b.email}
        during = json.dumps(await engine.room(auction_id))  # what the public sees while it runs
        assert "A001" in during and "A002" in during
        assert not any(name in during for name in names)
        clock.set(clock.now() + timedelta(hours=2))
        assert await engine.fire_due() == [auction_id]
        result = (await engine.room(auction_id))["result"]
        assert result == {"sold": True, "price": 101_000, "winner": "A002", "winner_name": b.display_name}
    finally:
        await engine.stop()
