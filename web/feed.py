"""The lot websocket: a snapshot on connect, coalesced deltas after, and bids in.

Messages from the client (JSON objects, at most MAX_MESSAGE_BYTES each):
  {"type": "bid", "kind": "bid"|"proxy", "amount": <minor units>, "key": "<idempotency key>", "ref": <any>}
  {"type": "resync"}               -> a fresh snapshot
  {"type": "ping"}                 -> {"type": "pong", "server_now": ...}
Messages to the client:
  {"type": "snapshot", "room": {...}}       the whole room, `room.seq` the last event in it
  {"type": "events", "events": [...]}       deltas in sequence order, several per frame when busy
  {"type": "ack", "ref": ..., "ack": {...}}   the answer to a bid, sent after its commit
  {"type": "error", "ref": ..., "status": ..., "detail": ...}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from exchange.auctions.gateway import SLOW_CLIENT_CODE, FeedGateway, SlowClient
from exchange.errors import ExchangeError, NotFound
from web.context import _state, services, viewer

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 2048
MAX_KEY_LENGTH = 100


def gateway(socket: WebSocket[Any, Any, Any]) -> FeedGateway:
    found: FeedGateway = socket.app.state.gateway
    return found


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


def _same_origin(socket: WebSocket[Any, Any, Any]) -> bool:
    """Browsers always send Origin on websockets: refuse pages of other sites riding on our cookie."""
    origin = socket.headers.get("origin")
    if origin is None:
        return True  # not a browser: programs authenticate with a token or watch anonymously
    host = socket.headers.get("host", "")
    return urlsplit(origin).netloc == host


def parse_bid(message: dict[str, Any]) -> tuple[str, int, str] | str:
    """(kind, amount, key) or the reason the message is not a bid we can take."""
    kind = message.get("kind", "bid")
    amount = message.get("amount")
    key = message.get("key")
    if kind not in ("bid", "proxy"):
        return "kind must be 'bid' or 'proxy'"
    if not isinstance(amount, int) or isinstance(amount, bool):
        return "amount must be a whole number of minor units"
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        return f"key must be a printable idempotency key of 1 to {MAX_KEY_LENGTH} characters"
    return kind, amount, key


@websocket("/ws/lots/{lot_id:int}", include_in_schema=False)
async def lot_socket(socket: WebSocket[Any, Any, Any], lot_id: FromPath[int]) -> None:
    if not _same_origin(socket):
        await socket.close(code=4403, reason="cross-site websocket refused")
        return
    identity_error = _state(socket).get("identity_error")
    account = None if identity_error is not None else viewer(socket)
    svc = services(socket)
    feed = gateway(socket)
    await socket.accept()
    watch = feed.watch(lot_id)
    send_lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with send_lock:
            await socket.send_text(text)

    async def snapshot() -> None:
        room = await svc.auctions.room(lot_id, account)
        watch.last_seq = room["seq"]
        await send(_dumps({"type": "snapshot", "room": room}))

    async def receive() -> None:
        while True:
            raw = await socket.receive_data(mode="text")
            if len(raw) > MAX_MESSAGE_BYTES:
                await socket.close(code=1009, reason="message too big")
                return
            try:
                message = json.loads(raw)
            except ValueError:
                await send(_dumps({"type": "error", "status": 400, "detail": "messages must be JSON objects"}))
                continue
            if not isinstance(message, dict):
                await send(_dumps({"type": "error", "status": 400, "detail": "messages must be JSON objects"}))
                continue
            ref = message.get("ref")
            if not isinstance(ref, str | int | None) or (isinstance(ref, str) and len(ref) > 64):
                ref = None
            kind = message.get("type")
            if kind == "ping":
                await send(_dumps({"type": "pong", "ref": ref, "server_now": svc.clock.now().isoformat()}))
            elif kind == "resync":
                await snapshot()
            elif kind == "bid":
                parsed = parse_bid(message)
                if isinstance(parsed, str):
                    await send(_dumps({"type": "error", "ref": ref, "status": 400, "detail": parsed}))
                    continue
                asyncio.get_running_loop().create_task(bid(ref, *parsed))
            else:
                await send(_dumps({"type": "error", "ref": ref, "status": 400, "detail": "unknown message type"}))

    async def bid(ref: Any, kind: str, amount: int, key: str) -> None:
        try:
            if identity_error is not None:
                raise identity_error
            ack = await svc.auctions.submit_bid(account, lot_id, kind, amount, key)  # type: ignore[arg-type]
            reply: dict[str, Any] = {"type": "ack", "ref": ref, "ack": ack}
        except ExchangeError as exc:
            reply = {"type": "error", "ref": ref, "status": exc.status, "code": exc.code, "detail": exc.detail}
        except Exception:  # noqa: BLE001 - the bidder must hear back; the cause is logged
            log.exception("bid on lot %s over the websocket failed", lot_id)
            reply = {"type": "error", "ref": ref, "status": 503, "detail": "the bid could not be recorded; try again"}
        with contextlib.suppress(Exception):
            await send(_dumps(reply))

    tasks: list[asyncio.Task[None]] = []
    try:
        try:
            await snapshot()
        except NotFound:
            await socket.close(code=4404, reason="no such auction")
            return
        tasks = [asyncio.create_task(feed.pump(watch, send)), asyncio.create_task(receive())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if isinstance(error, SlowClient):
                log.info("dropping a slow watcher of lot %s: %s", lot_id, error)
                with contextlib.suppress(Exception):
                    await socket.close(code=SLOW_CLIENT_CODE, reason="too slow; reconnect to resynchronise")
            elif error is not None and not isinstance(error, WebSocketDisconnect):
                log.warning("lot %s websocket ended: %r", lot_id, error)
    except WebSocketDisconnect:
        pass
    finally:
        feed.unwatch(watch)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
