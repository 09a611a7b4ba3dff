"""Identity for every request: an API token (Authorization: Bearer) or a session cookie.

Browsers authenticate with the session cookie, so every state-changing request that rides
on it must prove it came from our own page: forms carry `_csrf`, scripts send
`X-CSRF-Token`. Token-authenticated API calls carry no ambient credentials and need neither.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from exchange.accounts.sessions import Session
from exchange.accounts.types import Account
from exchange.errors import ExchangeError, Forbidden, NotAuthenticated
from exchange.services import Services
from web.context import _state

SESSION_COOKIE = "tex_session"
LANG_COOKIE = "tex_lang"
LANGUAGES = ("zh", "en")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_cookies(header: str | None) -> dict[str, str]:
    """A Cookie header's values; a malformed header counts as none."""
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is just ignored
        return {}
    return {k: m.value for k, m in jar.items()}


def _cookies(scope: Scope) -> dict[str, str]:
    return parse_cookies(_header(scope, b"cookie"))


async def identify(
    services: Services, authorization: str | None, cookies: dict[str, str]
) -> tuple[Account | None, Session | None, bool]:
    """(account, session, via token) from an `Authorization: Bearer` header or the session cookie.

    A bad token is an error (NotAuthenticated); a missing or expired session is no account.
    """
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("use 'Authorization: Bearer <API token>'")
        return await services.accounts.account_for_token(token.strip()), None, True
    session = await services.sessions.load(cookies.get(SESSION_COOKIE))
    if session is None or session.account_id is None:
        return None, session, False
    try:
        return await services.accounts.get(session.account_id), session, False
    except ExchangeError:
        return None, session, False


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return None


def _pick_language(scope: Scope, cookies: dict[str, str]) -> tuple[str, bool]:
    query = scope.get("query_string", b"").decode("latin-1")
    for part in query.split("&"):
        if part.startswith("lang="):
            lang = part[5:]
            if lang in LANGUAGES:
                return lang, True
    if cookies.get(LANG_COOKIE) in LANGUAGES:
        return cookies[LANG_COOKIE], False
    accept = (_header(scope, b"accept-language") or "").lower()
    return ("en" if accept.startswith("en") else "zh"), False


class IdentityMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, secure_cookies: bool) -> None:
        self.secure_cookies = secure_cookies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        services: Services = scope["litestar_app"].state.services
        state = scope.setdefault("state", {})
        cookies = _cookies(scope)
        lang, lang_chosen = _pick_language(scope, cookies)
        state.update(account=None, session=None, lang=lang, via_token=False)
        try:
            await self._identify(scope, state, services, cookies)
        except ExchangeError as exc:
            state["identity_error"] = exc

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if "set_session_cookie" in state:
                    headers.append((b"set-cookie", self._session_cookie(state["set_session_cookie"])))
                if lang_chosen:
                    headers.append((b"set-cookie", self._cookie(LANG_COOKIE, lang, 365 * 86400, http_only=False)))
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_cookies)

    async def _identify(
        self, scope: Scope, state: dict[str, Any], services: Services, cookies: dict[str, str]
    ) -> None:
        account, session, via_token = await identify(services, _header(scope, b"authorization"), cookies)
        state.update(account=account, session=session, via_token=via_token)
        if session is None:
            return
        if scope.get("method", "GET") in UNSAFE_METHODS and scope["path"].startswith("/api/"):
            sent = _header(scope, b"x-csrf-token") or ""
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                state["account"] = None
                raise Forbidden("missing or wrong X-CSRF-Token header for a cookie-authenticated request")

    def _session_cookie(self, value: str) -> bytes:
        return self._cookie(SESSION_COOKIE, value, 12 * 3600 if value else 0, http_only=True)

    def _cookie(self, name: str, value: str, max_age: int, *, http_only: bool) -> bytes:
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
        if http_only:
            parts.append("HttpOnly")
        if self.secure_cookies:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


def raise_identity_error(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Surface a bad token or a failed CSRF check inside the handler, where errors are mapped."""
    error = _state(connection).get("identity_error")
    if error is not None:
        raise error


async def check_form_csrf(connection: ASGIConnection[Any, Any, Any, Any], form: dict[str, Any]) -> None:
    from web.context import session

    if _state(connection).get("via_token"):
        return  # an API token is no ambient credential: nothing to forge
    current = session(connection)
    sent = str(form.get("_csrf", ""))
    if current is None or not hmac.compare_digest(sent.encode(), current.csrf.encode()):
        raise Forbidden("this form has expired or did not come from this site; reload the page and try again")
