"""A bid's receipt: its time is taken as the request arrives, before anything is awaited.

The bid route's requests get a ticket from the auction service (exchange/auctions/link.py:
the stamp, holding this gateway's watermark until the bid is handed to the engine) before
the identity middleware looks the caller up; the handler passes it on with the bid.
"""

from __future__ import annotations

import re
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from exchange.auctions.link import Ticket
from web.context import _state

_BIDS = re.compile(r"^/api/lots/[0-9]{1,18}/bids$")


class ReceiptMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope.get("method") != "POST" or _BIDS.match(scope.get("path", "")) is None:
            await next_app(scope, receive, send)
            return
        ticket = scope["litestar_app"].state.services.auctions.receipt()
        scope.setdefault("state", {})["receipt"] = ticket
        try:
            await next_app(scope, receive, send)
        finally:
            ticket.release()


def receipt(connection: ASGIConnection[Any, Any, Any, Any]) -> Ticket | None:
    found: Ticket | None = _state(connection).get("receipt")
    return found
