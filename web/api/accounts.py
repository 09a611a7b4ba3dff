from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from exchange.accounts.service import require_role
from exchange.accounts.types import Account, IssuedToken, Registration, Role, TokenInfo
from web.context import begin_login, client_address, end_login, services, viewer


class Credentials(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    password: str


class TokenRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: str
    password: str
    name: str


class SessionInfo(msgspec.Struct, frozen=True):
    account: Account
    csrf_token: str


class AccountsApi(Controller):
    path = "/api"
    tags = ["accounts"]

    @post("/accounts", status_code=HTTP_201_CREATED, summary="Register an institution or investor")
    async def register(self, request: Request[Any, Any, Any], data: JSONBody[Registration]) -> Account:
        return await services(request).accounts.register(data)

    @post("/accounts/{account_id:int}/login-limits/reset", status_code=HTTP_204_NO_CONTENT,
          summary="Let an account's owner log in again at once: its wrong passwords forgotten (operators)")
    async def reset_login_limits(self, request: Request[Any, Any, Any], account_id: FromPath[int]) -> None:
        await services(request).accounts.reset_login_limits(viewer(request), account_id)

    @get("/me", summary="The account behind this request")
    async def me(self, request: Request[Any, Any, Any]) -> Account:
        return require_role(viewer(request), *Role)

    @post("/session", status_code=200, summary="Log in with a browser session cookie")
    async def login(self, request: Request[Any, Any, Any], data: JSONBody[Credentials]) -> SessionInfo:
        account = await services(request).accounts.authenticate(
            data.email, data.password, client=client_address(request)
        )
        session = await begin_login(request, account)
        return SessionInfo(account=account, csrf_token=session.csrf)

    @delete("/session", status_code=HTTP_204_NO_CONTENT, summary="Log out")
    async def logout(self, request: Request[Any, Any, Any]) -> None:
        await end_login(request)

    @post("/tokens", status_code=HTTP_201_CREATED, summary="Exchange credentials for an API token")
    async def issue_token(self, request: Request[Any, Any, Any], data: JSONBody[TokenRequest]) -> IssuedToken:
        account = viewer(request)
        if account is None:
            account = await services(request).accounts.authenticate(
                data.email, data.password, client=client_address(request)
            )
        return await services(request).accounts.issue_token(account, data.name)

    @get("/tokens", summary="Your API tokens (never their secret)")
    async def tokens(self, request: Request[Any, Any, Any]) -> list[TokenInfo]:
        account = require_role(viewer(request), *Role)
        return await services(request).accounts.tokens(account)

    @delete("/tokens/{token_id:int}", status_code=HTTP_204_NO_CONTENT, summary="Revoke a token")
    async def revoke(self, request: Request[Any, Any, Any], token_id: FromPath[int]) -> None:
        account = require_role(viewer(request), *Role)
        await services(request).accounts.revoke_token(account, token_id)
