"""The demo exchange started again on the data it already has, as `make run` does day after day:
the demo data set is loaded once, and each start keeps an auction coming for the demo investors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.e2e.conftest import STARTED_WITH, exchange_server

pytestmark = pytest.mark.e2e

DATABASE = "e2e_demo_restart"
DEMO_INVESTORS = [("investor@capital.demo", "demo-pass-2026"), ("buyer@huaxin.demo", "demo-pass-2026")]

# What the demo set-up writes, each as rows that must not repeat from one start to the next.
CENSUS = {
    "accounts": "SELECT role || ' ' || email FROM accounts ORDER BY 1",
    "achievements": "SELECT owner_id || ' ' || title FROM achievements ORDER BY 1",
    "listings": """SELECT a.title || ' ' || l.competitive_method FROM listings l
                   JOIN achievements a ON a.id = l.achievement_id ORDER BY 1""",
    "intents": "SELECT listing_id || ' ' || investor_id FROM listing_intents ORDER BY 1",
    "agreements": "SELECT achievement_id || ' ' || buyer_id FROM agreements ORDER BY 1",
    "quote_rounds": "SELECT listing_id::text FROM quote_rounds ORDER BY 1",
}


def _census(pg: EmbeddedPostgres) -> dict[str, list[str]]:
    return {what: pg.psql(sql, DATABASE).splitlines() for what, sql in CENSUS.items()}


def _live(url: str) -> list[dict[str, Any]]:
    """The auctions scheduled or open when the exchange had started."""
    return [a for a in STARTED_WITH[url] if a["status"] != "closed"]


def _opens_within_minutes(auction: dict[str, Any]) -> bool:
    return auction["status"] == "scheduled" and (
        datetime.fromisoformat(auction["opens_at"]) - datetime.now(UTC) < timedelta(minutes=2))


def _both_investors_may_bid(url: str, auction_id: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as api:
        codes = set()
        for email, password in DEMO_INVESTORS:
            token = api.post("/api/tokens", json={"email": email, "password": password, "name": "e2e"})
            assert token.status_code == 201, token.text
            room = api.get(f"/api/auctions/{auction_id}",
                           headers={"Authorization": f"Bearer {token.json()['token']}"}).json()
            assert room["you"] is not None, f"{email} is not qualified for auction {auction_id}"
            codes.add(room["you"]["code"])
    assert codes == {"A001", "A002"}


@pytest.fixture
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A Redis of its own: lot numbers start at 1 in every database, and the session's other
    exchange keeps its lots' streams in the shared Redis."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("demo-redis"), persistent=False)
    server.start()
    yield server
    server.stop()


def _stay_down_past(pg: EmbeddedPostgres, auction: dict[str, Any]) -> None:
    """The exchange stays down for a day, past the whole of `auction`, which never opened: its
    schedule is moved a day back, which is what the engine finds on starting a day later."""
    pg.psql(f"""UPDATE auctions SET opens_at = opens_at - interval '1 day',
                    scheduled_end = scheduled_end - interval '1 day',
                    next_deadline = next_deadline - interval '1 day',
                    created_at = created_at - interval '1 day'
                WHERE id = {int(auction['auction_id'])} AND status = 'scheduled'""", DATABASE)


def _missed(url: str, auction: dict[str, Any]) -> None:
    """`auction` was closed unsold, as it had to be once its time had passed with no bids."""
    with httpx.Client(base_url=url, timeout=10) as api:
        room = api.get(f"/api/auctions/{auction['auction_id']}").json()
    assert room["status"] == "closed" and room["result"]["sold"] is False and room["bid_count"] == 0, room


def test_restarting_the_demo_loads_nothing_twice_and_keeps_one_auction_coming(
    pg_server: EmbeddedPostgres, own_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    var_dir: Path = tmp_path_factory.mktemp("e2e-demo-restart")
    with exchange_server(pg_server, own_redis, var_dir, DATABASE) as url:
        first = _census(pg_server)
        [demo] = _live(url)
        assert _opens_within_minutes(demo), demo
    demo_data = json.loads((Path(__file__).parents[2] / "exchange" / "demo" / "data.json").read_text())
    assert len(first["accounts"]) == 1 + len(demo_data["investors"]) + len(demo_data["institutions"])

    # started again at once: the demo auction has not opened; it stays, alone, and nothing is loaded twice
    with exchange_server(pg_server, own_redis, var_dir, DATABASE, fresh=False) as url:
        assert _census(pg_server) == first
        assert [a["auction_id"] for a in _live(url)] == [demo["auction_id"]]
        assert _opens_within_minutes(_live(url)[0])
        _both_investors_may_bid(url, demo["auction_id"])

    # down for a day: the next start closes the missed auction and schedules the next, on another listing
    _stay_down_past(pg_server, demo)
    with exchange_server(pg_server, own_redis, var_dir, DATABASE, fresh=False) as url:
        assert _census(pg_server) == first
        _missed(url, demo)
        [again] = _live(url)
        assert again["auction_id"] != demo["auction_id"] and again["listing_id"] != demo["listing_id"]
        assert _opens_within_minutes(again), again
        assert again["bidder_count"] == 2
        _both_investors_may_bid(url, again["auction_id"])

    # and the start after keeps that one, alone
    with exchange_server(pg_server, own_redis, var_dir, DATABASE, fresh=False) as url:
        assert _census(pg_server) == first
        assert [a["auction_id"] for a in _live(url)] == [again["auction_id"]]
