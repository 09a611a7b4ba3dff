"""The engine link: how web workers and feed gateways hand bids to the engine and hear back.

One TCP connection per gateway process to the engine, found through PostgreSQL (the engine
records its address in `engine_endpoints` when it takes the engine lock). Frames are a
4-byte big-endian length and a MessagePack message. The engine opens with a random nonce and
admits the gateway only if it answers with HMAC-SHA256(secret key, nonce): every process of
one exchange shares EXCHANGE_SECRET_KEY, nobody else can place a bid in someone's name.

Each call carries an id, its receipt stamp and the gateway's watermark (see horizon.py); the
engine answers each id once, after the commit, in any order. A gateway sends a heartbeat with
its watermark when it has sent nothing for HEARTBEAT_S. While the link is down, calls fail at
once with a retryable 503; calls in flight when it breaks fail the same way, because their
outcome is unknown: the client retries with the same Idempotency-Key, and the engine (the same
one, or the next, which reads the keys from PostgreSQL) answers with the first answer or takes
the bid once.

Chosen by measurement over Redis Streams (README, "Deployment"): one round trip on an open
socket instead of two Redis round trips and a blocking read per bid, and bidding does not
depend on Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import os
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec

from exchange.auctions.horizon import Horizon
from exchange.auctions.sequencer import Admission, PlaceBidRequest
from exchange.auctions.types import SequencerUnavailable, to_micros
from exchange.clock import Clock
from exchange.errors import ExchangeError
from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

MAX_FRAME = 1 << 20
HEARTBEAT_S = 0.02
HANDSHAKE_S = 5.0
CALL_TIMEOUT_S = 10.0
MAX_HOLD_S = 2.0
"""A bid held by its gateway longer than this before it is sent no longer holds the horizon back."""
MAX_IN_FLIGHT = 20_000
MAX_BUFFERED = 8 << 20
RECONNECT_S = (0.05, 0.1, 0.25, 0.5, 1.0)
_LENGTH = struct.Struct(">I")


class Hello(msgspec.Struct, tag="hello", array_like=True):
    nonce: bytes
    engine: str


class Auth(msgspec.Struct, tag="auth", array_like=True):
    gateway: str
    proof: bytes
    wm: int


class Ready(msgspec.Struct, tag="ready", array_like=True):
    pass


class Refused(msgspec.Struct, tag="refused", array_like=True):
    reason: str


class BidCall(msgspec.Struct, tag="bid", array_like=True):
    id: int
    wm: int
    at: int
    lot: int
    account: int
    kind: str
    amount: int
    key: str | None
    hash: str | None


class AdmitCall(msgspec.Struct, tag="admit", array_like=True):
    id: int
    wm: int
    at: int
    lot: int
    account: int
    approved_by: int


class LoadCall(msgspec.Struct, tag="load", array_like=True):
    id: int
    wm: int
    lot: int


class Beat(msgspec.Struct, tag="beat", array_like=True):
    wm: int


class Problem(msgspec.Struct):
    status: int
    code: str
    title: str
    detail: str
    field_errors: dict[str, str] = {}


class Reply(msgspec.Struct, tag="reply", array_like=True):
    id: int
    answer: dict[str, Any] | None = None
    error: Problem | None = None


Call = BidCall | AdmitCall | LoadCall
ToEngine = Auth | BidCall | AdmitCall | LoadCall | Beat
ToGateway = Hello | Ready | Refused | Reply

_encode = msgspec.msgpack.Encoder().encode
_to_engine = msgspec.msgpack.Decoder(ToEngine).decode
_to_gateway = msgspec.msgpack.Decoder(ToGateway).decode


def frame(message: msgspec.Struct) -> bytes:
    body = _encode(message)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(4))
    if length > MAX_FRAME:
        raise ConnectionError(f"a frame of {length} bytes is over the limit")
    return await reader.readexactly(length)


class Outbox:
    """Frames for one connection, written together once per turn of the event loop: one system
    call for all the bids (or answers) of a burst instead of one each. Order is kept."""

    __slots__ = ("_frames", "_writer")

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._frames: list[bytes] = []

    def put(self, message: msgspec.Struct) -> None:
        if not self._frames:
            asyncio.get_running_loop().call_soon(self._flush)
        self._frames.append(frame(message))

    def _flush(self) -> None:
        frames, self._frames = self._frames, []
        if frames and not self._writer.is_closing():
            self._writer.write(b"".join(frames))

    @property
    def buffered(self) -> int:
        transport = self._writer.transport
        return transport.get_write_buffer_size() + sum(map(len, self._frames))


def proof(secret: str, nonce: bytes) -> bytes:
    return hmac.new(secret.encode(), b"exchange-engine-link:" + nonce, hashlib.sha256).digest()


def problem_of(exc: BaseException) -> Problem:
    if isinstance(exc, ExchangeError):
        return Problem(exc.status, exc.code, exc.title, exc.detail, exc.field_errors)
    return Problem(503, SequencerUnavailable.code, SequencerUnavailable.title,
                   "the auction engine could not record it this time; try again")


def _error_classes(base: type[ExchangeError]) -> dict[str, type[ExchangeError]]:
    found = {base.code: base}
    for sub in base.__subclasses__():
        for code, cls in _error_classes(sub).items():
            found.setdefault(code, cls)
    return found


def error_from(problem: Problem) -> ExchangeError:
    """The engine's error as the same class here, so callers catch it as they would locally."""
    cls = _error_classes(ExchangeError).get(problem.code, ExchangeError)
    try:
        error = cls(problem.detail, field_errors=problem.field_errors or None)
    except TypeError:  # an error class with other arguments: keep its status, code and title
        error = ExchangeError(problem.detail, field_errors=problem.field_errors or None)
    error.status, error.code, error.title = problem.status, problem.code, problem.title
    return error


# -- the gateway's side ----------------------------------------------------------------------


class Ticket:
    """A bid received by this gateway: its receipt stamp, holding the watermark until sent."""

    __slots__ = ("_held", "id", "stamp")

    def __init__(self, held: dict[int, int] | None, ticket_id: int, stamp: int) -> None:
        self._held = held
        self.id = ticket_id
        self.stamp = stamp

    def release(self) -> None:
        if self._held is not None:
            self._held.pop(self.id, None)
            self._held = None


Locate = Callable[[], Awaitable[str]]


class EngineLink:
    def __init__(self, locate: Locate, secret: str, clock: Clock, name: str | None = None) -> None:
        self._locate = locate
        self._secret = secret
        self._clock = clock
        self.name = name or f"{os.uname().nodename}:{os.getpid()}"
        self._held: dict[int, int] = {}
        self._tickets = itertools.count(1)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: Outbox | None = None
        self._last_stamp = 0
        self._last_sent = 0.0
        self._task: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.engine: str | None = None

    # -- stamps and the watermark --------------------------------------------------

    def _stamp(self) -> int:
        self._last_stamp = max(self._last_stamp, to_micros(self._clock.now()))
        return self._last_stamp

    def ticket(self) -> Ticket:
        """Call on receipt of a bid, before anything else is awaited."""
        stamp = self._stamp()
        ticket_id = next(self._tickets)
        self._held[ticket_id] = stamp
        return Ticket(self._held, ticket_id, stamp)

    def watermark(self) -> int:
        """The oldest stamp received and not sent (tickets are made in stamp order), or now."""
        now = self._stamp()
        too_old = now - int(MAX_HOLD_S * 1_000_000)
        held = self._held
        while held:
            ticket_id, stamp = next(iter(held.items()))
            if stamp >= too_old:
                return stamp
            del held[ticket_id]  # it still goes, with its stamp; the horizon no longer waits for it
        return now

    # -- calls ---------------------------------------------------------------------

    async def bid(self, request: PlaceBidRequest, ticket: Ticket) -> dict[str, Any]:
        return await self._call(lambda call_id, wm: BidCall(
            call_id, wm, ticket.stamp, request.lot, request.account_id, request.kind, request.amount,
            request.key, request.request_hash), ticket)

    async def admit(self, admission: Admission, ticket: Ticket) -> dict[str, Any]:
        return await self._call(lambda call_id, wm: AdmitCall(
            call_id, wm, ticket.stamp, admission.lot, admission.account_id, admission.approved_by), ticket)

    async def load(self, lot: int) -> None:
        await self._call(lambda call_id, wm: LoadCall(call_id, wm, lot), None)

    async def _call(self, make: Callable[[int, int], Call], ticket: Ticket | None) -> dict[str, Any]:
        try:
            writer, outbox = self._writer, self._outbox
            if writer is None or outbox is None or writer.is_closing():
                raise SequencerUnavailable("the auction engine is restarting; send it again in a moment, "
                                           "with the same Idempotency-Key")
            if len(self._pending) >= MAX_IN_FLIGHT or outbox.buffered > MAX_BUFFERED:
                raise SequencerUnavailable("the auction engine is busy; send it again in a moment, "
                                           "with the same Idempotency-Key")
            call_id = next(self._ids)
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._pending[call_id] = future
            outbox.put(make(call_id, self.watermark()))
            self._last_sent = time.monotonic()
        finally:
            if ticket is not None:
                ticket.release()
        try:
            answer: dict[str, Any] = await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except TimeoutError:
            raise SequencerUnavailable("the auction engine did not answer in time; the bid may have been "
                                       "recorded: send it again with the same Idempotency-Key") from None
        finally:
            self._pending.pop(call_id, None)
        return answer

    # -- the connection ------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="engine-link")
            self._beat = asyncio.create_task(self._heartbeat(), name="engine-link-heartbeat")

    async def stop(self) -> None:
        await cancel_and_wait(self._beat)
        await cancel_and_wait(self._task)
        self._task = self._beat = None

    async def _run(self) -> None:
        failures = 0
        while True:
            writer: asyncio.StreamWriter | None = None
            try:
                address = await self._locate()
                host, _, port = address.rpartition(":")
                reader, opened = await asyncio.wait_for(asyncio.open_connection(host, int(port)), HANDSHAKE_S)
                writer = opened
                await asyncio.wait_for(self._handshake(reader, opened), HANDSHAKE_S)
                self._writer, self._outbox = opened, Outbox(opened)
                self.connected.set()
                log.info("linked to the auction engine %s at %s", self.engine, address)
                failures = 0
                await self._read_replies(reader)
                log.warning("the auction engine closed the link")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the engine may be (re)starting: try again
                if failures == 0:
                    log.info("waiting for the auction engine (%s)", exc)
                elif failures % 50 == 0:  # about every 50 s
                    log.warning("still no link to the auction engine (%r); retrying", exc)
                failures += 1
            finally:
                self._writer = self._outbox = None
                self.connected.clear()
                if writer is not None:
                    writer.close()
                self._fail_pending()
            await asyncio.sleep(RECONNECT_S[min(failures, len(RECONNECT_S) - 1)])

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = _to_gateway(await read_frame(reader))
        if not isinstance(hello, Hello):
            raise ConnectionError("the engine did not greet")
        writer.write(frame(Auth(self.name, proof(self._secret, hello.nonce), self.watermark())))
        answer = _to_gateway(await read_frame(reader))
        if isinstance(answer, Refused):
            raise ConnectionError(f"the engine refused this gateway: {answer.reason}")
        if not isinstance(answer, Ready):
            raise ConnectionError("the engine did not confirm the link")
        self.engine = hello.engine

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        pending = self._pending
        while True:
            try:
                reply = _to_gateway(await read_frame(reader))
            except asyncio.IncompleteReadError:
                return
            if not isinstance(reply, Reply):
                continue
            future = pending.pop(reply.id, None)
            if future is None or future.done():
                continue
            if reply.error is not None:
                future.set_exception(error_from(reply.error))
            else:
                future.set_result(reply.answer)

    def _fail_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(SequencerUnavailable(
                    "the link to the auction engine broke before its answer; the bid may have been recorded: "
                    "send it again with the same Idempotency-Key"))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            writer, outbox = self._writer, self._outbox
            if (writer is not None and outbox is not None and not writer.is_closing()
                    and time.monotonic() - self._last_sent >= HEARTBEAT_S):
                outbox.put(Beat(self.watermark()))
                self._last_sent = time.monotonic()


# -- the engine's side -----------------------------------------------------------------------


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
            auth = _to_engine(await asyncio.wait_for(read_frame(reader), HANDSHAKE_S))
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
            message = _to_engine(await read_frame(reader))
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
