"""The three kinds of exchange process, each on uvloop, each against the same PostgreSQL and Redis.

- engine: the auction engine (the one writer of every live lot: sequencer, timers, feed
  publisher), the periodic sweeps of every other deadline, the demo set-up, and the link
  server gateways hand bids to. One at a time: it holds the engine lock.
- web: HTTP pages and the JSON API (uvicorn); bids go over the engine link. Any number of
  them share the HTTP port (SO_REUSEPORT).
- feed: the lot websockets; frames from Redis to watchers, websocket bids over the engine
  link. Any number of them share the feed port (SO_REUSEPORT).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from exchange.accounts.revocations import RevocationListener
from exchange.auctions.horizon import Horizon
from exchange.auctions.lease import EngineLease, engine_address
from exchange.auctions.link import EngineLink
from exchange.auctions.link_server import EngineServer
from exchange.config import Settings
from exchange.infra.sweeper import Sweeper
from exchange.services import Services
from web.runtime import open_services

log = logging.getLogger("exchange")

SESSION_PURGE_S = 600.0
WEB_CONNECTIONS = 10
FEED_CONNECTIONS = 5
"""PostgreSQL connections per web worker and per feed gateway at most (the engine: 20): four of
each and the engine stay well inside a server's usual 100 to 200."""


@dataclass(frozen=True)
class Ports:
    host: str
    http: int
    feed: int
    engine: int

    @classmethod
    def of(cls, settings: Settings, host: str | None = None, http: int | None = None,
           feed: int | None = None) -> Ports:
        host = host or settings.host
        http = http or settings.port
        return cls(host, http, feed or settings.feed_port or http + 1, settings.engine_port or http + 2)


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes of the exchange may bind too (SO_REUSEPORT):
    the kernel spreads connections across them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)


def _link(settings: Settings, pools: list[asyncpg.Pool], role: str) -> EngineLink:
    """A link to the engine, found through the address it recorded in PostgreSQL."""
    from exchange.clock import SystemClock

    async def locate() -> str:
        return await engine_address(pools[0])

    name = f"{os.environ.get('EXCHANGE_PROCESS') or role}@{socket.gethostname()}:{os.getpid()}"
    return EngineLink(locate, settings.secret_key, SystemClock(), name=name)


async def engine(settings: Settings, database_url: str, redis_url: str, ports: Ports) -> int:
    from exchange.demo.agreements import ensure_demo_agreement
    from exchange.demo.auction import ensure_live_demo_auction
    from exchange.demo.listing_procedure import ensure_demo_procedure
    from exchange.demo.loader import demo_loaded, load_demo
    from exchange.demo.quotes import ensure_demo_quote_round

    stop = asyncio.Event()
    _stop_on_signals(stop)
    lost = asyncio.Event()

    def lease_lost() -> None:
        lost.set()
        stop.set()

    async with contextlib.AsyncExitStack() as stack:
        lease = EngineLease(database_url)
        await lease.acquire()
        stack.push_async_callback(lease.release)
        horizon = Horizon()
        services = await stack.enter_async_context(
            open_services(settings, database_url, redis_url, horizon=horizon))
        if settings.load_demo and not await demo_loaded(services):
            counts = await load_demo(services)
            log.info("loaded the demo data set: %s", counts)
        await services.auctions.start()  # rebuilds live books and applies deadlines missed while down
        stack.push_async_callback(services.auctions.stop)
        assert services.auctions.engine is not None
        lease.watch(lease_lost)
        for start, halt in _sweeps(services):
            start()
            stack.push_async_callback(halt)
        if settings.load_demo:
            await ensure_live_demo_auction(services)
            await ensure_demo_procedure(services)
            await ensure_demo_agreement(services)
            await ensure_demo_quote_round(services)
        # Gateways link once start-up is done: a healthy web worker means a ready exchange.
        server = EngineServer(services.auctions.engine, horizon, settings.secret_key)
        port = await server.start(settings.engine_host, ports.engine)
        stack.push_async_callback(server.stop)
        horizon.start()
        stack.push_async_callback(horizon.stop)
        address = settings.engine_address or f"{_advertised(settings.engine_host)}:{port}"
        await lease.publish(address, services.clock.now())
        _freeze()
        log.info("auction engine ready; gateways link to %s", address)
        await stop.wait()
    return 3 if lost.is_set() else 0


def _compile_templates(app: Any) -> None:
    """Every page template compiled before the first request (10 to 40 ms each, once)."""
    engine = app.template_engine
    for path in sorted((Path(__file__).parent / "templates").glob("*.html")):
        engine.get_template(path.name)


def _freeze() -> None:
    """What start-up built lives as long as the process: keep it out of every collection, so a
    full collection costs what the process holds for requests, not its code and settings."""
    gc.collect()
    gc.freeze()


def _advertised(host: str) -> str:
    return socket.gethostname() if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison


def _sweeps(services: Services) -> list[tuple[Callable[[], None], Callable[[], Any]]]:
    """Every periodic pass over deadlines other than the auctions': started at once (what fell
    due while the exchange was down), then every few seconds; and expired sessions, every ten
    minutes."""
    purge = Sweeper("session purge", services.sessions.purge, services.clock, lambda: SESSION_PURGE_S)
    return [(s.start, s.stop) for s in (services.settlement, services.tenders, services.quotes,
                                        services.listing_changes, services.agreements, services.procedure,
                                        purge)]


def _listen_for_revocations(services: Services, database_url: str) -> RevocationListener:
    """Logouts and token revocations of any process, forgotten here at once."""
    listener = RevocationListener(database_url)
    listener.on_revoked.append(services.forget_revoked)
    listener.on_missed.append(services.forget_everything)
    listener.start()
    return listener


async def web(settings: Settings, database_url: str, redis_url: str, ports: Ports, *, access_log: bool) -> int:
    import uvicorn

    from web.app import create_app
    from web.corked import CorkedHttpToolsProtocol

    pools: list[asyncpg.Pool] = []
    async with open_services(settings, database_url, redis_url, engine_link=_link(settings, pools, "web"),
                             connections=WEB_CONNECTIONS) as services:
        pools.append(services.pool)
        await services.auctions.start()
        revocations = _listen_for_revocations(services, database_url)
        app = create_app(services, secure_cookies=settings.secure_cookies, run_engine=False,
                         feed_port=ports.feed, feed_url=settings.feed_url)
        config = uvicorn.Config(app, log_config=None, log_level="info" if access_log else "warning",
                                access_log=access_log,
                                http=CorkedHttpToolsProtocol, ws="none", lifespan="on", proxy_headers=False,
                                timeout_graceful_shutdown=5, server_header=False)
        server = uvicorn.Server(config)
        _compile_templates(app)
        _freeze()
        try:
            await server.serve(sockets=[listening_socket(ports.host, ports.http)])
        finally:
            await revocations.stop()
            await services.auctions.stop()
    return 0


async def feed(settings: Settings, database_url: str, redis_url: str, ports: Ports) -> int:
    from web.feed import FeedLimits, FeedServer
    from web.proxies import TrustedProxies

    stop = asyncio.Event()
    _stop_on_signals(stop)
    pools: list[asyncpg.Pool] = []
    async with open_services(settings, database_url, redis_url, engine_link=_link(settings, pools, "feed"),
                             connections=FEED_CONNECTIONS) as services:
        pools.append(services.pool)
        await services.auctions.start()
        server = FeedServer(services, web_port=ports.http, limits=FeedLimits.from_env(os.environ),
                            proxies=TrustedProxies.from_env(os.environ))
        await server.start(ports.host, ports.feed, reuse_port=True)
        revocations = _listen_for_revocations(services, database_url)
        revocations.on_revoked.append(server.revoked)
        revocations.on_missed.append(server.check_credentials)
        _freeze()
        log.info("feed gateway serving ws://%s:%d", ports.host, ports.feed)
        try:
            await stop.wait()
        finally:
            await revocations.stop()
            await server.stop()
            await services.auctions.stop()
    return 0
