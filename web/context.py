"""What every controller reads from a connection: the services, the viewer, the session."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from exchange.accounts.sessions import Session
from exchange.accounts.types import Account
from exchange.services import Services
from web.proxies import TrustedProxies


def services(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    found: Services = connection.app.state.services
    return found


def _state(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
    state: dict[str, Any] = connection.scope.setdefault("state", {})
    return state


def viewer(connection: ASGIConnection[Any, Any, Any, Any]) -> Account | None:
    account: Account | None = _state(connection).get("account")
    return account


def session(connection: ASGIConnection[Any, Any, Any, Any]) -> Session | None:
    found: Session | None = _state(connection).get("session")
    return found


def language(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    lang: str = _state(connection).get("lang", "zh")
    return lang


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address: the TCP peer, or what a trusted proxy says it is (web/proxies.py)."""
    client = connection.scope.get("client")
    peer = client[0] if client else "unknown"
    proxies: TrustedProxies = connection.app.state.trusted_proxies
    return proxies.client(peer, connection.headers.get("x-forwarded-for"))


async def ensure_session(connection: ASGIConnection[Any, Any, Any, Any]) -> Session:
    """The visitor's session, created (and its cookie set) on first need, e.g. to hold a CSRF token."""
    state = _state(connection)
    current: Session | None = state.get("session")
    if current is None:
        current = services(connection).sessions.new()
        current.lang = state.get("lang", "")
        await services(connection).sessions.save(current)
        state["session"] = current
        state["set_session_cookie"] = current.id
    return current


async def begin_login(connection: ASGIConnection[Any, Any, Any, Any], account: Account) -> Session:
    state = _state(connection)
    store = services(connection).sessions
    old = state.get("session")
    fresh = await store.rotate(old) if old is not None else store.new()
    fresh.account_id = account.id
    fresh.lang = state.get("lang", fresh.lang)
    await store.save(fresh)
    state["session"] = fresh
    state["account"] = account
    state["set_session_cookie"] = fresh.id
    return fresh


async def end_login(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    state = _state(connection)
    old = state.get("session")
    if old is not None:
        await services(connection).sessions.destroy(old)
    state["session"] = None
    state["account"] = None
    state["set_session_cookie"] = ""
