"""Input no route could take, refused before routing's handlers see it (a 4xx, never a 500):
a NUL character in the address or its query (PostgreSQL text cannot hold one), and a number in
the address or query beyond what a PostgreSQL bigint holds (no record can have such an id).
Values inside JSON bodies are checked by the services; what slips past them is mapped by
web/errors.py (a data error from PostgreSQL is an invalid input, never a server error)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from exchange.errors import ExchangeError, NotFound, ValidationFailed

MAX_ID = 2**63 - 1


def input_problem(path: str, query: str) -> ExchangeError | None:
    if "\x00" in path:
        return ExchangeError("the address must not contain NUL characters")
    if any(_number(part) > MAX_ID for part in path.split("/")):
        return NotFound("no such item: the number in the address is beyond any id")
    errors = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            errors[name.replace("\x00", "") or "query"] = "must not contain NUL characters"
        elif _number(value) > MAX_ID:
            errors[name] = f"must be at most {MAX_ID}"
    if errors:
        return ValidationFailed("the query has values no request can use", field_errors=errors)
    return None


def _number(text: str) -> int:
    """The value of an unsigned decimal number in ASCII digits, else -1 (str.isdigit also takes
    digits such as '³' that int() refuses)."""
    return int(text) if text.isascii() and text.isdigit() else -1


class InputGuard(ASGIMiddleware):
    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        problem = input_problem(scope.get("path", ""), scope.get("query_string", b"").decode("latin-1"))
        if problem is not None:
            raise problem
        await next_app(scope, receive, send)
