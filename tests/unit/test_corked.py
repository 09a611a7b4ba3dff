"""Writes leave in one write per connection and loop turn (exchange/infra/corked.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from exchange.infra.corked import CorkedTransport


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else None


async def test_a_head_and_a_body_written_in_one_turn_leave_together_in_order() -> None:
    raw = Transport()
    corked = CorkedTransport(raw)
    corked.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
    corked.write(b"{}")
    assert raw.writes == [] and corked.get_write_buffer_size() == 45
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]
    corked.write(b"next")
    await asyncio.sleep(0)
    assert raw.writes[-1] == b"next" and len(raw.writes) == 2


async def test_closing_sends_what_was_written_first_and_the_rest_is_passed_through() -> None:
    raw = Transport()
    corked = CorkedTransport(raw)
    corked.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    corked.close()
    assert raw.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"] and raw.closed
    assert corked.get_extra_info("peername") == ("127.0.0.1", 1)
    corked.write(b"too late")
    await asyncio.sleep(0)
    assert len(raw.writes) == 1, "nothing is written to a closed connection"
