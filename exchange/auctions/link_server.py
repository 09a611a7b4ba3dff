"""The engine link, the engine's side: it admits gateways that prove the secret key, reads
their calls in order, hands each to the engine with its receipt stamp, moves each gateway's
watermark in the horizon, and answers each call once, after the commit."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from exchange.auctions.commands import Admission, PlaceBidRequest
from exchange.auctions.horizon import Horizon
from exchange.auctions.link_protocol import (
    HANDSHAKE_S,
    AdmitCall,
    Auth,
    BidCall,
    Hello,
    LoadCall,
    Outbox,
    Ready,
    Refused,
    Reply,
    frame,
    problem_of,
    proof,
    read_frame,
    to_engine,
)
from exchange.auctions.types import SequencerUnavailable
from exchange.errors import ExchangeError

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What the link server needs of the engine (exchange/auctions/engine.py)."""

    def stamp(self) -> int: ...

    def place_bid(self, request: PlaceBidRequest, received_at: int | None = None) -> Awaitable[dict[str, Any]]: ...

    def admit(self, admission: Admission, received_at: int | None = None) -> Awaitable[dict[str, Any]]: ...

    async def load(self, auction_id: int) -> None: ...


class EngineServer:
    def __init__(self, engine: Engine, horizon: Horizon, secret: str, name: str | None = None) -> None:
        self._engine = engine
        self._horizon = horizon
        self._secret = secret
        self.name = name or f"{os.uname().nodename}:{os.getpid()}"
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port: int | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonce = secrets.token_bytes(32)
        writer.write(frame(Hello(nonce, self.name)))
        try:
            auth = to_engine(await asyncio.wait_for(read_frame(reader), HANDSHAKE_S))
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, msgspec.DecodeError):
            writer.close()
            return
        if not isinstance(auth, Auth) or not hmac.compare_digest(auth.proof, proof(self._secret, nonce)):
            log.warning("refused an engine link from %s: wrong secret key", writer.get_extra_info("peername"))
            writer.write(frame(Refused("wrong secret key: every process of the exchange needs the same "
                                       "EXCHANGE_SECRET_KEY")))
            writer.close()
            return
        link = self._horizon.join(auth.gateway, auth.wm, self._engine.stamp())
        self._connections.add(writer)
        writer.write(frame(Ready()))
        log.info("gateway %s linked", auth.gateway)
        try:
            await self._calls(reader, writer, link)
        except (ConnectionError, asyncio.IncompleteReadError, msgspec.DecodeError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                log.warning("dropping the link of gateway %s: %r", auth.gateway, exc)
        finally:
            self._horizon.leave(link)
            self._connections.discard(writer)
            writer.close()
            log.info("gateway %s unlinked", auth.gateway)

    async def _calls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Any) -> None:
        engine, heard = self._engine, self._horizon.heard
        outbox = Outbox(writer)
        while True:
            message = to_engine(await read_frame(reader))
            if isinstance(message, Auth):
                raise ConnectionError("a second greeting")
            heard(link, message.wm, engine.stamp())
            answer: Awaitable[Any]
            if isinstance(message, BidCall):
                answer = engine.place_bid(PlaceBidRequest(
                    message.lot, message.account, message.kind, message.amount, message.key, message.hash),
                    message.at)
            elif isinstance(message, AdmitCall):
                answer = engine.admit(Admission(message.lot, message.account, message.approved_by), message.at)
            elif isinstance(message, LoadCall):
                answer = engine.load(message.lot)
            else:
                continue
            asyncio.ensure_future(answer).add_done_callback(_answer_to(outbox, message.id))


def _answer_to(outbox: Outbox, call_id: int) -> Callable[[asyncio.Future[Any]], None]:
    def send(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            reply = Reply(call_id, error=problem_of(SequencerUnavailable("cancelled")))
        elif (exc := done.exception()) is not None:
            if not isinstance(exc, ExchangeError):
                log.error("a call over the engine link failed: %r", exc)
            reply = Reply(call_id, error=problem_of(exc))
        else:
            reply = Reply(call_id, answer=done.result() or {})
        outbox.put(reply)
    return send
