"""Every error mapped once: problem-details JSON for the API, a readable page for browsers."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import asyncpg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.response import Redirect, Template
from redis.exceptions import RedisError

from exchange.errors import ExchangeError, RateLimited
from web.i18n import translator

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/") or request.url.path.startswith("/schema"):
        return True
    return "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get("accept", "")


def problem(
    request: Request[Any, Any, Any], *, status: int, title: str, detail: str, code: str,
    errors: dict[str, str] | None = None, headers: dict[str, str] | None = None,
) -> Response[Any]:
    if _wants_json(request):
        body: dict[str, Any] = {
            "type": f"https://docs.tech-exchange.invalid/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": request.url.path,
        }
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)
    if status == 401:
        return Redirect(path=f"/login?next={quote(request.url.path)}", status_code=303)
    from web.pages.common import page_context

    t = translator(request)
    context = page_context(request) | {
        "status": status, "title": t(f"error.{status}", default=title), "detail": detail, "errors": errors or {},
    }
    return Template("error.html", context=context, status_code=status, headers=headers, media_type=MediaType.HTML)


def exchange_error(request: Request[Any, Any, Any], exc: ExchangeError) -> Response[Any]:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    if exc.status == 503:
        headers = {"Retry-After": "1"}  # the engine could not record it this time; the same request may be retried
    return problem(request, status=exc.status, title=exc.title, detail=exc.detail, code=exc.code,
                   errors=exc.field_errors, headers=headers)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: dict[str, str] = {}
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                errors[str(item.get("key") or item.get("source") or "body")] = str(item.get("message", ""))
    detail = str(exc.detail) if exc.detail else "the request could not be read"
    return problem(request, status=400, title="Invalid request", detail=detail, code="invalid_request", errors=errors)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = "not_found" if isinstance(exc, NotFoundException) else f"http_{status}"
    return problem(request, status=status, title=str(exc.detail) if status < 500 else "Server error",
                   detail=str(exc.detail), code=code, headers=exc.headers)


def unreachable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """PostgreSQL or Redis cannot be reached (stopped, restarting, refusing, timing out): nothing
    was done, and the same request may succeed shortly; the pools reconnect by themselves."""
    log.warning("%s %s: a server it needs is unreachable: %r", request.method, request.url.path, exc)
    return problem(request, status=503, title="Temporarily unavailable", code="unavailable",
                   detail="the exchange cannot reach its database or its cache right now; nothing was done, "
                          "try again in a moment",
                   headers={"Retry-After": "2"})


def database_error(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[Any]:
    if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError
                  | asyncpg.TooManyConnectionsError):
        return unreachable(request, exc)
    if isinstance(exc, asyncpg.CharacterNotInRepertoireError):
        return problem(request, status=422, title="Invalid input", detail="text must not contain NUL characters",
                       code="invalid_input")
    if isinstance(exc, asyncpg.CheckViolationError | asyncpg.DataError):
        log.warning("%s %s refused by the database: %s", request.method, request.url.path, exc)
        # a value PostgreSQL cannot hold or compare (out of range, not a valid date, ...): the input's
        return problem(request, status=422, title="Invalid input", detail="a value is out of range",
                       code="invalid_input")
    if isinstance(exc, asyncpg.UniqueViolationError):
        return problem(request, status=409, title="Conflict", detail="this already exists", code="conflict")
    log.exception("database error", exc_info=exc)
    return problem(request, status=500, title="Server error", detail="an internal error occurred", code="server_error")


def too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested deeper than the decoder can follow is the request's fault; anything else that
    recursed too deep is ours."""
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
        return problem(request, status=400, title="Invalid request", code="invalid_request",
                       detail="the JSON body is nested too deeply to be read")
    return unexpected_error(request, exc)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, status=500, title="Server error", detail="an internal error occurred; it has been logged",
                   code="server_error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ExchangeError: exchange_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    asyncpg.PostgresError: database_error,
    asyncpg.InterfaceError: unreachable,
    OSError: unreachable,  # a refused or vanished socket (ConnectionError, FileNotFoundError of a unix socket)
    TimeoutError: unreachable,
    RedisError: unreachable,
    RecursionError: too_deep,
    Exception: unexpected_error,
}
