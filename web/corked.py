"""HTTP/1.1 answers in one write: uvicorn writes a response's head and its body separately,
two system calls (two TCP segments) per answer; on a corked transport (exchange/infra/corked.py)
a connection's writes within one turn of the event loop go out together."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from exchange.infra.corked import CorkedTransport


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a corked transport (give it as `http=` to uvicorn.Config)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(CorkedTransport(transport))  # type: ignore[arg-type]
