"""The exchange as separate processes: one engine, web workers and feed gateways, supervised.

Each test starts `exchange run` as a user would and treats it from outside: HTTP bids,
websocket watchers, kill -9 and SIGSTOP of single processes. Outcomes are asserted, never
timings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis as redis_sync
import websockets

from exchange.infra.embedded import EmbeddedPostgres, EmbeddedRedis
from exchange.load.api import PASSWORD, soon
from tests.integration.processes import (
    Watcher,
    auction,
    bid_until_answered,
    exchange_processes,
    market,
    open_auction,
    until,
)

pytestmark = pytest.mark.timeout(240)


async def test_bids_through_two_web_workers_reach_one_engine_and_every_watcher_of_two_gateways(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        assert sorted(running.children().values()) == ["engine", "feed", "feed", "web", "web"]
        m, auction_id = await open_auction(running, http, bidders=4)
        watchers = [Watcher(running.feed, auction_id) for _ in range(8)]
        for watcher in watchers:
            watcher.start()
        served_by: set[str] = set()
        for _ in range(40):  # fresh connections: the kernel spreads them over both workers
            async with httpx.AsyncClient() as fresh:
                served_by.add((await fresh.get(f"{running.url}/healthz")).json()["process"])
        assert served_by == {"web-1", "web-2"}
        answers = await asyncio.gather(*(
            bid_until_answered(running.url, m.bidders[i % 4], auction_id, 1_000_000 + i * 1_000, f"war-{i}")
            for i in range(0, 60, 4)))
        for round_ in range(1, 4):
            answers += await asyncio.gather(*(
                bid_until_answered(running.url, m.bidders[round_], auction_id, 1_000_000 + i * 1_000, f"war-{i}")
                for i in range(round_, 60, 4)))
        accepted = [a.json() for a in answers if a.status_code == 201]
        assert all(a.status_code in (201, 422) for a in answers), [a.text for a in answers if a.status_code >= 500]
        room = await m.api.room(auction_id)
        seqs = sorted(a["seq"] for a in accepted)
        assert len(seqs) == len(set(seqs)) and seqs[-1] <= room["seq"]
        await until(lambda: all(w.seq >= room["seq"] for w in watchers), 10, "every watcher caught up")
        for watcher in watchers:
            await watcher.stop()
        assert all(w.seq == room["seq"] and w.gaps == 0 and w.connections == 1 for w in watchers)
        assert all(set(seqs) <= set(w.bids) for w in watchers), "every watcher saw every accepted bid"
        again = await bid_until_answered(running.url, m.bidders[0], auction_id, 1_000_000, "war-0")
        assert again.json() == answers[0].json(), "a key answered through one worker means the same through any"


async def test_a_killed_web_worker_and_feed_gateway_are_restarted_and_watchers_resync(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m, auction_id = await open_auction(running, http, bidders=2)
        watchers = [Watcher(running.feed, auction_id) for _ in range(6)]
        for watcher in watchers:
            watcher.start()
        amounts = iter(range(1_000_000, 2_000_000, 1_000))
        acked = []
        for n in range(10):
            acked.append(await bid_until_answered(running.url, m.bidders[n % 2], auction_id, next(amounts), f"k{n}"))

        web = running.signal("web", signal.SIGKILL)
        feed = running.signal("feed", signal.SIGKILL)
        for n in range(10, 20):  # bidding goes on through the other worker meanwhile
            acked.append(await bid_until_answered(running.url, m.bidders[n % 2], auction_id, next(amounts), f"k{n}"))
        await running.wait_restarted("web", web, 2)
        await running.wait_restarted("feed", feed, 2)
        for n in range(20, 30):
            acked.append(await bid_until_answered(running.url, m.bidders[n % 2], auction_id, next(amounts), f"k{n}"))

        assert all(a.status_code == 201 for a in acked), [a.text for a in acked if a.status_code != 201]
        room = await m.api.room(auction_id)
        await until(lambda: all(w.seq >= room["seq"] for w in watchers), 15, "every watcher caught up")
        for watcher in watchers:
            await watcher.stop()
        assert all(w.seq == room["seq"] for w in watchers), [w.seq for w in watchers]
        assert any(w.connections > 1 for w in watchers), "the killed gateway's watchers reconnected"
        assert room["price"] == acked[-1].json()["amount"]


async def test_the_engine_killed_mid_war_loses_no_acknowledged_bid_and_bidding_resumes(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m, auction_id = await open_auction(running, http, bidders=6)
        acked: dict[str, dict[str, object]] = {}
        sent: dict[str, tuple[int, int, dict[str, object]]] = {}
        stop = asyncio.Event()

        async def bidder(i: int) -> None:
            n = 0
            while not stop.is_set():
                room = await m.api.room(auction_id)
                key = f"b{i}-{n}"
                answer = await bid_until_answered(running.url, m.bidders[i], auction_id, room["minimum_bid"], key)
                sent[key] = (i, room["minimum_bid"], answer.json())
                if answer.status_code == 201:
                    acked[key] = answer.json()
                n += 1

        war = [asyncio.create_task(bidder(i)) for i in range(6)]
        await until(lambda: len(acked) >= 40, 60, "40 bids acknowledged")
        engine = running.signal("engine", signal.SIGKILL)
        killed_at = len(acked)
        await running.wait_restarted("engine", engine, 1)
        await running.wait_ready()
        await until(lambda: len(acked) >= killed_at + 40, 60, "40 more bids acknowledged after the restart")
        stop.set()
        await asyncio.gather(*war)

        room = await m.api.room(auction_id)
        events = (await http.get(f"/api/auctions/{auction_id}/events", params={"after": 0})).json()
        assert [e["seq"] for e in events] == list(range(1, room["seq"] + 1)), "no gap, no duplicate"
        bids = {e["seq"]: e["price"] for e in events if e["type"] == "bid"}
        for key, ack in acked.items():
            assert bids.get(int(str(ack["seq"]))) == ack["price"], f"acknowledged bid {key} is missing or different"
        for key, (i, amount, answer) in sent.items():  # every key, before the kill or after: its first answer
            again = await bid_until_answered(running.url, m.bidders[i], auction_id, amount, key)
            assert again.json() == answer, f"{key} answered differently the second time"
        assert len(events) == len((await http.get(f"/api/auctions/{auction_id}/events")).json()), "nothing applied twice"
        verify = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "verify", env=running.env, stdout=asyncio.subprocess.PIPE)
        out, _ = await verify.communicate()
        assert verify.returncode == 0, out.decode()


async def test_a_login_storm_during_bidding_leaves_every_bid_answered(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path, settings={
            "EXCHANGE_LOGIN_PER_ACCOUNT": "1000", "EXCHANGE_LOGIN_PER_ADDRESS": "10000"}) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m, auction_id = await open_auction(running, http, bidders=2)
        logins: list[int] = []

        async def login() -> None:  # a browser of its own each time
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
                answer = await client.post("/api/session", json={"email": m.bidders[0].email, "password": PASSWORD})
                logins.append(answer.status_code)

        async def storm() -> None:
            tasks = []
            for _ in range(100):  # 25 logins a second for 4 s, each a full argon2 check
                tasks.append(asyncio.create_task(login()))
                await asyncio.sleep(0.04)
            await asyncio.gather(*tasks)

        storming = asyncio.create_task(storm())
        answers = []
        for n in range(40):
            answers.append(await bid_until_answered(running.url, m.bidders[n % 2], auction_id,
                                                    1_000_000 + n * 1_000, f"s{n}", timeout_s=5))
            await asyncio.sleep(0.05)
        await storming
        assert [a.status_code for a in answers] == [201] * 40
        assert set(logins) <= {200, 429, 503} and 200 in logins, logins  # 429: one account's burst


async def test_a_bid_received_before_the_close_while_the_engine_is_stopped_is_judged_before_it(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path, web=1, feed=1) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m = await market(running, http, bidders=2)
        opens = soon(2)
        end = opens + timedelta(seconds=6)
        auction_id = await auction(m, opens_at=opens, scheduled_end=end, quiet_period_s=3)
        close = end + timedelta(seconds=3)  # free bidding, then one quiet period
        await m.api.wait_open([auction_id])
        first = await bid_until_answered(running.url, m.bidders[0], auction_id, 1_000_000, "first")
        assert first.status_code == 201
        await asyncio.sleep((close - timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds())

        engine = running.signal("engine", signal.SIGSTOP)
        await asyncio.sleep((close - timedelta(seconds=0.5) - datetime.now(UTC)).total_seconds())
        sent_at = datetime.now(UTC)
        late = asyncio.create_task(http.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_001_000},
                                             headers=m.bidders[1].headers | {"Idempotency-Key": "in-time"}))
        await asyncio.sleep((close + timedelta(seconds=2) - datetime.now(UTC)).total_seconds())
        assert not late.done(), "nothing answers for a stopped engine"
        os.kill(engine, signal.SIGCONT)
        answer = await late
        assert answer.status_code == 201, answer.text
        ack = answer.json()
        received = datetime.fromisoformat(ack["at"])
        assert sent_at <= received < close, "judged at its receipt, before the close"
        assert datetime.fromisoformat(ack["close_at"]) == received + timedelta(seconds=3)
        await asyncio.sleep((datetime.fromisoformat(ack["close_at"]) - datetime.now(UTC)).total_seconds() + 0.5)
        for _ in range(50):
            room = await m.api.room(auction_id)
            if room["status"] == "closed":
                break
            await asyncio.sleep(0.2)
        assert room["result"]["sold"] and room["result"]["price"] == 1_001_000
        assert room["leader"] == ack["leader"]


async def test_with_redis_down_bids_are_still_taken_and_the_feed_catches_up(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persistent=False)
    redis.start()
    try:
        async with exchange_processes(pg_server, redis, tmp_path, web=1, feed=1) as running, \
                httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            m, auction_id = await open_auction(running, http, bidders=2)
            watcher = Watcher(running.feed, auction_id)
            watcher.start()
            browser = httpx.AsyncClient(base_url=running.url, timeout=30)  # a bidder logged in in a browser
            login = await browser.post("/api/session", json={"email": m.bidders[0].email, "password": PASSWORD})
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            amounts = iter(range(1_000_000, 2_000_000, 1_000))
            acked = [await bid_until_answered(running.url, m.bidders[n % 2], auction_id, next(amounts), f"r{n}")
                     for n in range(5)]
            redis.kill()
            acked += [await bid_until_answered(running.url, m.bidders[n % 2], auction_id, next(amounts), f"r{n}",
                                               timeout_s=10) for n in range(5, 14)]
            by_cookie = await browser.post(f"/api/lots/{auction_id}/bids", json={"amount": next(amounts)},
                                           headers=csrf | {"Idempotency-Key": "cookie"})
            assert by_cookie.status_code == 201, "a browser session bids without Redis"
            acked.append(by_cookie)
            room = await browser.get(f"/api/auctions/{auction_id}")
            assert room.status_code == 200 and room.json()["you"]["code"] == "A001"
            page = await browser.get(f"/auctions/{auction_id}")
            assert page.status_code == 200 and "A001" in page.text
            await browser.aclose()
            login = await http.post("/api/session", json={"email": m.bidders[1].email, "password": PASSWORD})
            assert login.status_code == 503 and login.headers["retry-after"], "login limits cannot be counted"
            assert login.headers["content-type"].startswith("application/problem+json")
            assert [a.status_code for a in acked] == [201] * 15
            last = acked[-1].json()["seq"]
            await until(lambda: watcher.seq >= last, 20, "the watcher saw every bid, from PostgreSQL")
            redis.start()
            acked.append(await bid_until_answered(running.url, m.bidders[1], auction_id, next(amounts), "r15"))
            await until(lambda: watcher.seq >= acked[-1].json()["seq"], 20, "the feed is back on Redis")
            await watcher.stop()
            assert watcher.gaps == 0
    finally:
        redis.stop()


async def test_while_postgresql_is_down_requests_are_refused_503_and_the_exchange_recovers_by_itself(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg")
    postgres.start()
    try:
        async with exchange_processes(postgres, redis_server, tmp_path, web=1, feed=1) as running, \
                httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            m, auction_id = await open_auction(running, http, bidders=2)
            first = await bid_until_answered(running.url, m.bidders[0], auction_id, 1_000_000, "before")
            assert first.status_code == 201
            postgres.kill()
            await asyncio.sleep(6)  # past the 5 s for which a process trusts a token it has read
            for _ in range(3):
                down = await http.get(f"/api/auctions/{auction_id}")
                bid = await http.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_001_000},
                                      headers=m.bidders[1].headers | {"Idempotency-Key": "during"})
                for answer in (down, bid):
                    assert answer.status_code == 503, answer.text
                    assert int(answer.headers["retry-after"]) >= 1
                    assert answer.headers["content-type"].startswith("application/problem+json")
            postgres.start()
            again = await bid_until_answered(running.url, m.bidders[1], auction_id, 1_001_000, "during",
                                             timeout_s=60)
            assert again.status_code == 201 and again.json()["seq"] == first.json()["seq"] + 1
            room = (await http.get(f"/api/auctions/{auction_id}")).json()
            assert room["price"] == 1_001_000 and room["seq"] == again.json()["seq"]
    finally:
        postgres.stop(even_if_found_running=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_ctrl_c_or_sigterm_during_bidding_stops_every_process_within_seconds(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path, signum: int,
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m, auction_id = await open_auction(running, http, bidders=2)
        watcher = Watcher(running.feed, auction_id)
        watcher.start()
        stop = asyncio.Event()

        async def war() -> None:
            n = 0
            while not stop.is_set():
                try:
                    await http.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_000_000 + n * 1_000},
                                    headers=m.bidders[n % 2].headers | {"Idempotency-Key": f"w{n}"})
                except httpx.HTTPError:
                    pass  # the exchange is stopping
                n += 1

        bidding = asyncio.create_task(war())
        await until(lambda: watcher.seq >= 10, 30, "the war is on")
        children = running.children()
        started = time.monotonic()
        running.process.send_signal(signum)
        code = await asyncio.to_thread(running.process.wait, 30)
        stopped_in = time.monotonic() - started
        stop.set()
        await bidding
        await watcher.stop()
        assert code == 0 and stopped_in < 25, (code, stopped_in, running.log.read_text()[-3000:])
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        assert "pool is closing" not in running.log.read_text()


async def test_a_revoked_token_or_a_logout_closes_that_accounts_open_websockets_at_once(
    pg_server: EmbeddedPostgres, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    async with exchange_processes(pg_server, redis_server, tmp_path) as running, \
            httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        m, auction_id = await open_auction(running, http, bidders=2)
        url = f"{running.feed}/ws/lots/{auction_id}"
        tokens = (await http.get("/api/tokens", headers=m.bidders[0].headers)).json()
        by_token = await websockets.connect(url, additional_headers=m.bidders[0].headers)
        browser = httpx.AsyncClient(base_url=running.url, timeout=30)
        login = await browser.post("/api/session", json={"email": m.bidders[1].email, "password": PASSWORD})
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        by_cookie = await websockets.connect(url, additional_headers={
            "Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items()), "Origin": running.url})
        anonymous = await websockets.connect(url)
        for socket in (by_token, by_cookie, anonymous):
            assert json.loads(await socket.recv())["type"] == "snapshot"

        revoked = await http.delete(f"/api/tokens/{tokens[0]['id']}", headers=m.bidders[0].headers)
        assert revoked.status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(1.0):
                while True:
                    await by_token.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        for _ in range(6):  # every web worker refuses the token at once, not after its 5 s of trust
            async with httpx.AsyncClient(base_url=running.url) as fresh:
                refused = await fresh.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_000_000},
                                           headers=m.bidders[0].headers | {"Idempotency-Key": "after-revoke"})
            assert refused.status_code == 401

        assert (await browser.delete("/api/session", headers=csrf)).status_code == 204
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(1.0):
                while True:
                    await by_cookie.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await browser.aclose()
        await anonymous.send(json.dumps({"type": "ping"}))
        assert json.loads(await anonymous.recv())["type"] in ("pong", "events"), "watchers not logged in stay"
        await anonymous.close()


async def test_a_hung_redis_stalls_neither_bids_nor_watchers(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", persistent=False)
    redis.start()
    assert redis._process is not None
    try:
        async with exchange_processes(pg_server, redis, tmp_path, web=1, feed=1) as running, \
                httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            m, auction_id = await open_auction(running, http, bidders=2)
            watcher = Watcher(running.feed, auction_id)
            watcher.start()
            browser = httpx.AsyncClient(base_url=running.url, timeout=30)
            login = await browser.post("/api/session", json={"email": m.bidders[0].email, "password": PASSWORD})
            csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
            first = await bid_until_answered(running.url, m.bidders[1], auction_id, 1_000_000, "h0")
            await until(lambda: watcher.seq >= first.json()["seq"], 10, "the watcher is following")
            os.kill(redis._process.pid, signal.SIGSTOP)
            started = time.monotonic()
            by_cookie = await browser.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_001_000},
                                           headers=csrf | {"Idempotency-Key": "hung-cookie"})
            by_token = await http.post(f"/api/lots/{auction_id}/bids", json={"amount": 1_002_000},
                                       headers=m.bidders[1].headers | {"Idempotency-Key": "hung-token"})
            assert by_cookie.status_code == 201 and by_token.status_code == 201
            assert time.monotonic() - started < 3, "a hung Redis is not waited for"
            await until(lambda: watcher.seq >= by_token.json()["seq"], 10,
                        "the watcher got the bids from PostgreSQL within a few seconds")
            os.kill(redis._process.pid, signal.SIGCONT)
            after = await bid_until_answered(running.url, m.bidders[0], auction_id, 1_003_000, "h3")
            await until(lambda: watcher.seq >= after.json()["seq"], 10, "the feed goes on when Redis is back")
            await watcher.stop()
            await browser.aclose()
            assert watcher.gaps == 0
    finally:
        if redis._process is not None:
            os.kill(redis._process.pid, signal.SIGCONT)
        redis.stop()


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def _embedded_server_pids(var_dir: Path) -> dict[str, int]:
    """The PostgreSQL postmaster and the redis-server an `exchange run` started under var_dir."""
    redis = redis_sync.Redis(unix_socket_path=str(var_dir / "redis" / "redis.sock"), socket_timeout=2)
    found = {"postgres": int((var_dir / "postgres" / "postmaster.pid").read_text().split()[0]),
             "redis": int(redis.info("server")["process_id"])}
    redis.close()
    return found


async def test_sigterm_stops_the_exchange_and_the_embedded_servers_it_started(tmp_path: Path) -> None:
    """On its embedded default (no DATABASE_URL, no REDIS_URL) `exchange run` owns PostgreSQL and
    Redis: SIGTERM ends it with exit code 0 and ends them with it, leaving the data to start again."""
    from tests.integration.helpers import free_port

    port, feed_port, engine_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {
        "EXCHANGE_VAR_DIR": str(tmp_path / "var"), "EXCHANGE_LOAD_DEMO": "0",
        "EXCHANGE_FEED_PORT": str(feed_port), "EXCHANGE_ENGINE_PORT": str(engine_port)}
    log, servers = tmp_path / "exchange.log", dict[str, int]()
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "web.cli", "run", "--port", str(port), "--web-workers", "1", "--feed-workers", "1",
            env=env, stdout=out, stderr=out)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as http:
            async def ready() -> bool:
                try:
                    return (await http.get("/healthz")).json().get("engine") == "ok"
                except (httpx.HTTPError, ValueError):
                    return False
            deadline = time.monotonic() + 120
            while not await ready():
                assert process.returncode is None and time.monotonic() < deadline, log.read_text()[-4000:]
                await asyncio.sleep(0.2)
        servers = _embedded_server_pids(tmp_path / "var")
        assert set(servers) == {"postgres", "redis"} and all(map(_alive, servers.values())), servers
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:  # the test failed before SIGTERM: leave no server behind
            process.kill()
            await process.wait()
            EmbeddedPostgres(tmp_path / "var" / "postgres").stop(even_if_found_running=True)
            for pid in servers.values():
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
    assert code == 0, log.read_text()[-4000:]
    assert {name: pid for name, pid in servers.items() if _alive(pid)} == {}
    assert not (tmp_path / "var" / "postgres" / "postmaster.pid").exists()
    assert (tmp_path / "var" / "postgres" / "PG_VERSION").exists()
