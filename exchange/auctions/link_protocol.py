"""The engine link's wire protocol: messages, framing, the handshake's proof, errors.

Frames are a 4-byte big-endian length and a MessagePack message (msgspec, each message an
array with its tag first). The engine opens with a random nonce and admits a gateway only if
it answers with HMAC-SHA256(secret key, nonce): every process of one exchange shares
EXCHANGE_SECRET_KEY, nobody else can place a bid in someone's name. An engine's error travels
as problem details and is raised on the gateway's side as the same class.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from typing import Any

import msgspec

from exchange.auctions.types import SequencerUnavailable
from exchange.errors import ExchangeError
from exchange.infra.corked import CorkedTransport

MAX_FRAME = 1 << 20
HANDSHAKE_S = 5.0
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

encode = msgspec.msgpack.Encoder().encode
to_engine = msgspec.msgpack.Decoder(ToEngine).decode
to_gateway = msgspec.msgpack.Decoder(ToGateway).decode


def frame(message: msgspec.Struct) -> bytes:
    body = encode(message)
    return _LENGTH.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = _LENGTH.unpack(await reader.readexactly(4))
    if length > MAX_FRAME:
        raise ConnectionError(f"a frame of {length} bytes is over the limit")
    return await reader.readexactly(length)


class Outbox:
    """Frames for one connection, written together once per turn of the event loop: one system
    call for all the bids (or answers) of a burst instead of one each."""

    __slots__ = ("_corked",)

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._corked = CorkedTransport(writer.transport)

    def put(self, message: msgspec.Struct) -> None:
        self._corked.write(frame(message))

    @property
    def buffered(self) -> int:
        return self._corked.get_write_buffer_size()


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
