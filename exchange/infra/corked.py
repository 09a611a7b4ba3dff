"""Writes to one connection gathered until the end of the event loop's turn.

A burst of small writes (a response's head and body; the bids or answers of one turn on the
engine link) leaves in one system call and, on TCP, one segment, instead of one each. Order is
kept; what was written goes out at the end of the turn that wrote it.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CorkedTransport:
    """A transport (or a StreamWriter) whose writes wait for the end of the loop's turn."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(bytes(data))

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        buffered: int = self._transport.get_write_buffer_size()
        return buffered + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
