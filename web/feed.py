"""The lot websocket, served by the `websockets` library: a snapshot on connect, deltas after, bids in.

It runs beside the HTTP app on its own port (EXCHANGE_FEED_PORT), in feed gateway processes
of its own (several share the port with SO_REUSEPORT). A lot's frame is encoded once, as the
bytes of one unmasked websocket frame, and written straight to each watcher's transport:
no task, no ASGI round trip and no framing per watcher; that is what lets a process feed
thousands of watchers.

Path: /ws/lots/{id}. Identity as for HTTP: `Authorization: Bearer <token>` or the session
cookie; browsers must come from the exchange's own pages (Origin checked).

Messages from the client (JSON objects, at most MAX_MESSAGE_BYTES each; bigger closes 1009):
  {"type": "bid", "kind": "bid"|"proxy", "amount": <minor units>, "key": "<idempotency key>", "ref": <any>}
  {"type": "resync"}               -> a fresh snapshot
  {"type": "ping"}                 -> {"type": "pong", "server_now": ...}
Messages to the client:
  {"type": "snapshot", "room": {...}}         the whole room; `room.seq` is the last event in it
  {"type": "events", "events": [...]}         deltas in sequence order, several per frame when busy
  {"type": "ack", "ref": ..., "ack": {...}}   the answer to a bid, sent after its commit
  {"type": "error", "ref": ..., "status": ..., "detail": ...}
A watcher whose socket does not keep up (more than SLOW_CLIENT_BYTES unsent) is disconnected
with code 4008; it reconnects and resynchronises from a snapshot. Each gateway takes at most
EXCHANGE_FEED_PER_ADDRESS connections from one address (beyond: HTTP 429 before the upgrade)
and EXCHANGE_FEED_PER_ACCOUNT from one account (beyond: closed with code 4429); 0 lifts a limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets import ConnectionClosed
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State

from exchange.accounts.service import token_hash
from exchange.accounts.types import Account
from exchange.auctions.gateway import FeedGateway, encode
from exchange.auctions.link import Ticket
from exchange.errors import ExchangeError, NotFound
from exchange.services import Services
from exchange.settings import rules_from_env
from web.auth import SESSION_COOKIE, identify, parse_cookies
from web.proxies import TrustedProxies

log = logging.getLogger(__name__)
# One line per connection opened or closed is noise with thousands of watchers.
connection_log = logging.getLogger("web.feed.connections")
connection_log.setLevel(logging.WARNING)

MAX_MESSAGE_BYTES = 2048
SLOW_CLIENT_BYTES = 1_000_000
SLOW_CLIENT_CODE = 4008
_PATH = re.compile(r"^/ws/lots/([0-9]{1,18})$")


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


def _credential(request: Request | None) -> tuple[str, str]:
    assert request is not None
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return "token", token_hash(authorization.partition(" ")[2].strip()).hex()
    return "session", parse_cookies(request.headers.get("Cookie")).get(SESSION_COOKIE, "")


def parse_bid(message: dict[str, Any]) -> tuple[Any, Any, str] | str:
    """(kind, amount, key), or why the message is not a bid. The values themselves are
    checked by the auction service, as for HTTP; a websocket bid must carry its key."""
    key = message.get("key")
    if not isinstance(key, str):
        return "a bid needs a key: a unique idempotency key per bid, resent with it on a retry"
    return message.get("kind", "bid"), message.get("amount"), key


@dataclass(frozen=True)
class FeedLimits:
    """Live feed connections per gateway process from one address, and from one account."""

    per_address: int = 100
    per_account: int = 20

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FeedLimits:
        return rules_from_env(cls, env, "FEED")


class FeedServer:
    """Owns the lot websockets of this process and the gateway that feeds them."""

    def __init__(self, services: Services, *, web_port: int | None = None, tick: float = 0.05,
                 limits: FeedLimits | None = None, proxies: TrustedProxies | None = None) -> None:
        self.services = services
        self.limits = limits or FeedLimits()
        self.proxies = proxies or TrustedProxies()
        self._by_address: Counter[str] = Counter()
        self._by_account: Counter[int] = Counter()
        self._credentials: dict[ServerConnection, tuple[str, str]] = {}
        """How each logged-in watcher came in: ("session", id) or ("token", digest)."""
        self.web_port = web_port
        self.gateway = FeedGateway(services.redis, services.auctions, self, tick=tick)
        self._lots: dict[int, set[ServerConnection]] = defaultdict(set)
        self._server: Server | None = None
        self.port: int | None = None
        self.dropped = 0

    # FrameSink ------------------------------------------------------------------------

    def watching(self, lot: int) -> bool:
        return bool(self._lots.get(lot))

    def watched(self) -> Iterable[int]:
        return [lot for lot, connections in self._lots.items() if connections]

    def deliver(self, lot: int, frame: str) -> None:
        connections = self._lots.get(lot)
        if not connections:
            return
        data = Frame(Opcode.TEXT, frame.encode()).serialize(mask=False)
        slow = []
        for connection in connections:
            transport = connection.transport
            if connection.protocol.state is not State.OPEN or transport.is_closing():
                continue
            transport.write(data)
            if transport.get_write_buffer_size() > SLOW_CLIENT_BYTES:
                slow.append(connection)
        for connection in slow:
            # It cannot take what it is sent: drop it rather than buffer for it or wait on it.
            connections.discard(connection)
            self.dropped += 1
            log.info("dropping a slow watcher of lot %s", lot)
            connection.transport.abort()

    # life cycle -----------------------------------------------------------------------

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """`reuse_port`: other feed gateways listen on the same port (the kernel spreads watchers)."""
        await self.gateway.start()
        self._server = await serve(
            self._handle, host, port, process_request=self._check_request, compression=None,
            max_size=MAX_MESSAGE_BYTES, ping_interval=20, ping_timeout=20, close_timeout=5,
            server_header=None, logger=connection_log, reuse_port=reuse_port,
        )
        sockets = list(self._server.sockets)
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self.gateway.stop()

    def watcher_count(self, lot: int | None = None) -> int:
        if lot is not None:
            return len(self._lots.get(lot, ()))
        return sum(len(c) for c in self._lots.values())

    # connections ----------------------------------------------------------------------

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if _PATH.match(urlsplit(request.path).path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such feed\n")
        limit = self.limits.per_address
        if limit and self._by_address[self._address(connection, request)] >= limit:
            return connection.respond(HTTPStatus.TOO_MANY_REQUESTS,
                                      f"at most {limit} live feed connections from one address\n")
        origin = request.headers.get("Origin")
        if origin is not None and not self._our_origin(origin, request.headers.get("Host", "")):
            return connection.respond(HTTPStatus.FORBIDDEN, "cross-site websocket refused\n")
        return None

    def _our_origin(self, origin: str, host: str) -> bool:
        """Browsers send Origin on websockets: only the exchange's own pages may ride on its cookie."""
        sent = urlsplit(origin)
        here = urlsplit("//" + host)
        if sent.hostname is None or sent.hostname != here.hostname:
            return False
        default = 443 if sent.scheme == "https" else 80
        port = sent.port or default
        return port in {here.port or default, self.web_port}

    async def _identify(self, request: Request) -> Account | None:
        cookies = parse_cookies(request.headers.get("Cookie"))
        account, _, _ = await identify(self.services, request.headers.get("Authorization"), cookies)
        return account

    async def _handle(self, connection: ServerConnection) -> None:
        address = self._address(connection)
        self._by_address[address] += 1
        try:
            await self._watch(connection)
        finally:
            self._by_address[address] -= 1
            if not self._by_address[address]:
                del self._by_address[address]

    async def _watch(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        match = _PATH.match(urlsplit(connection.request.path).path)
        assert match is not None
        lot = int(match.group(1))
        identity_error: ExchangeError | None = None
        account: Account | None = None
        try:
            account = await self._identify(connection.request)
        except ExchangeError as exc:
            identity_error = exc
        if account is None:
            await self._follow(connection, lot, account, identity_error)
            return
        limit = self.limits.per_account
        if limit and self._by_account[account.id] >= limit:
            await connection.close(4429, f"at most {limit} live feed connections per account")
            return
        self._by_account[account.id] += 1
        self._credentials[connection] = _credential(connection.request)
        try:
            await self._follow(connection, lot, account, identity_error)
        finally:
            self._credentials.pop(connection, None)
            self._by_account[account.id] -= 1
            if not self._by_account[account.id]:
                del self._by_account[account.id]

    def _address(self, connection: ServerConnection, request: Request | None = None) -> str:
        remote = connection.remote_address
        peer = str(remote[0]) if remote else ""
        request = request or connection.request
        return self.proxies.client(peer, request.headers.get("X-Forwarded-For") if request else None)

    def revoked(self, what: str, key: str) -> None:
        """A logout or a token's revocation: its watchers are disconnected (they may watch again,
        anonymously, or after logging in)."""
        for connection, credential in list(self._credentials.items()):
            if credential == (what, key):
                self._credentials.pop(connection, None)
                asyncio.get_running_loop().create_task(connection.close(4401, "logged out or token revoked"))

    async def check_credentials(self) -> None:
        """Revocations may have been missed: every logged-in watcher's credential is checked again."""
        for connection in list(self._credentials):
            assert connection.request is not None
            try:
                account = await self._identify(connection.request)
            except ExchangeError:
                account = None
            if account is None and connection in self._credentials:
                self._credentials.pop(connection, None)
                await connection.close(4401, "logged out or token revoked")

    async def _follow(
        self, connection: ServerConnection, lot: int, account: Account | None, identity_error: ExchangeError | None,
    ) -> None:
        auctions = self.services.auctions
        try:
            room = await auctions.room(lot, account)
        except NotFound:
            await connection.close(4404, "no such auction")
            return
        await connection.send(_dumps({"type": "snapshot", "room": room}))
        self.gateway.note_watching(lot, room["seq"])
        self._lots[lot].add(connection)
        try:
            if self.gateway.last_seq(lot) > room["seq"]:
                # committed between the snapshot and joining the lot's broadcast: fetch them now
                missed = await auctions.events_after(lot, room["seq"])
                if missed:
                    await connection.send(encode(missed))
            async for raw in connection:
                await self._on_message(connection, lot, account, identity_error, raw)
        except ConnectionClosed:
            pass
        finally:
            connections = self._lots.get(lot)
            if connections is not None:
                connections.discard(connection)
                if not connections:
                    del self._lots[lot]
                    self.gateway.unwatched(lot)

    async def _on_message(
        self, connection: ServerConnection, lot: int, account: Account | None,
        identity_error: ExchangeError | None, raw: str | bytes,
    ) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await connection.send(_dumps({"type": "error", "status": 400, "detail": "messages must be JSON objects"}))
            return
        ref = message.get("ref")
        if not isinstance(ref, str | int | None) or isinstance(ref, bool) or (isinstance(ref, str) and len(ref) > 64):
            ref = None
        kind = message.get("type")
        if kind == "ping":
            await connection.send(_dumps({"type": "pong", "ref": ref, "server_now": self.services.clock.now().isoformat()}))
        elif kind == "resync":
            room = await self.services.auctions.room(lot, account)
            await connection.send(_dumps({"type": "snapshot", "room": room}))
        elif kind == "bid":
            parsed = parse_bid(message)
            if isinstance(parsed, str):
                await connection.send(_dumps({"type": "error", "ref": ref, "status": 400, "detail": parsed}))
                return
            # received now; answered when its batch commits, while the socket keeps reading
            ticket = self.services.auctions.receipt()
            asyncio.get_running_loop().create_task(
                self._bid(connection, lot, account, identity_error, ref, ticket, *parsed))
        else:
            await connection.send(_dumps({"type": "error", "ref": ref, "status": 400, "detail": "unknown message type"}))

    async def _bid(
        self, connection: ServerConnection, lot: int, account: Account | None, identity_error: ExchangeError | None,
        ref: Any, ticket: Ticket, kind: Any, amount: Any, key: str,
    ) -> None:
        try:
            if identity_error is not None:
                raise identity_error
            ack = await self.services.auctions.submit_bid(account, lot, kind, amount, key, ticket=ticket)
            reply: dict[str, Any] = {"type": "ack", "ref": ref, "ack": ack}
        except ExchangeError as exc:
            reply = {"type": "error", "ref": ref, "status": exc.status, "code": exc.code, "detail": exc.detail,
                     "errors": exc.field_errors}
        except Exception:  # noqa: BLE001 - the bidder must hear back; the cause is logged
            log.exception("bid on lot %s over the websocket failed", lot)
            reply = {"type": "error", "ref": ref, "status": 503, "detail": "the bid could not be recorded; try again"}
        finally:
            ticket.release()
        with contextlib.suppress(ConnectionClosed):
            await connection.send(_dumps(reply))
