"""The engine link, a gateway's side: how web workers and feed gateways hand bids to the engine.

One TCP connection per gateway process to the engine, found through PostgreSQL (the engine
records its address in `engine_endpoints` when it takes the engine lock); the protocol is in
link_protocol.py, the engine's side in link_server.py.

Each call carries an id, its receipt stamp and the gateway's watermark (see horizon.py); the
engine answers each id once, after the commit, in any order. A gateway sends a heartbeat with
its watermark when it has sent nothing for HEARTBEAT_S. While the link is down, calls fail at
once with a retryable 503; calls in flight when it breaks fail the same way, because their
outcome is unknown: the client retries with the same Idempotency-Key, and the engine (the same
one, or the next, which reads the keys from PostgreSQL) answers with the first answer or takes
the bid once.

Chosen by measurement over Redis Streams (`exchange bench transport`; README, "Deployment"):
one round trip on an open socket instead of Redis round trips and blocking reads on both
sides, and bidding does not depend on Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from exchange.auctions.commands import Admission, PlaceBidRequest
from exchange.auctions.link_protocol import (
    HANDSHAKE_S,
    AdmitCall,
    Auth,
    Beat,
    BidCall,
    Call,
    Hello,
    LoadCall,
    Outbox,
    Ready,
    Refused,
    Reply,
    error_from,
    frame,
    proof,
    read_frame,
    to_gateway,
)
from exchange.auctions.types import SequencerUnavailable, to_micros
from exchange.clock import Clock
from exchange.infra.sweeper import cancel_and_wait

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.02
CALL_TIMEOUT_S = 10.0
MAX_HOLD_S = 2.0
"""A bid held by its gateway longer than this before it is sent no longer holds the horizon back."""
MAX_IN_FLIGHT = 20_000
MAX_BUFFERED = 8 << 20
RECONNECT_S = (0.05, 0.1, 0.25, 0.5, 1.0)


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
        hello = to_gateway(await read_frame(reader))
        if not isinstance(hello, Hello):
            raise ConnectionError("the engine did not greet")
        writer.write(frame(Auth(self.name, proof(self._secret, hello.nonce), self.watermark())))
        answer = to_gateway(await read_frame(reader))
        if isinstance(answer, Refused):
            raise ConnectionError(f"the engine refused this gateway: {answer.reason}")
        if not isinstance(answer, Ready):
            raise ConnectionError("the engine did not confirm the link")
        self.engine = hello.engine

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        pending = self._pending
        while True:
            try:
                reply = to_gateway(await read_frame(reader))
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


