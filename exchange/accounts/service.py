"""Registration, login (argon2 off the event loop, rate-limited), operator creation and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from argon2 import PasswordHasher

from exchange.accounts import repository as repo
from exchange.accounts import revocations
from exchange.accounts.passwords import PasswordHashing
from exchange.accounts.types import (
    SELF_REGISTERING_ROLES,
    Account,
    IssuedToken,
    Registration,
    Role,
    TokenInfo,
)
from exchange.clock import Clock
from exchange.errors import Conflict, Forbidden, NotAuthenticated, NotFound
from exchange.infra.ratelimit import RateLimiter
from exchange.settings import rules_from_env
from exchange.validation import FieldErrors, choice, text

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
TOKEN_PREFIX = "tex_"  # noqa: S105 - a public prefix, not a secret
MIN_PASSWORD = 10
MAX_PASSWORD = 256
LOGIN_FAILURES_PER_EMAIL = 5
"""Wrong passwords for one account before each further attempt waits: 1 s, 2 s, 4 s, ..."""
LOGIN_SLOWEST_S = 60
LOGIN_FAILURES_PER_ADDRESS = 30
LOGIN_WINDOW_S = 15 * 60
KNOWN_FOR_S = 5.0
"""How long a process trusts what it read of a token or an account: a revoked token, a disabled
account, is refused by every process within this time (at once by the one that revoked it)."""
KNOWN_KEPT = 10_000
TOUCH_EVERY = timedelta(minutes=1)
"""A token's `last_used_at` is written at most this often (a read per request, not a commit)."""


@dataclass(frozen=True)
class LoginLimits:
    """Logins, right or wrong, per account and per client address in a 15-minute window
    (EXCHANGE_LOGIN_PER_ACCOUNT, EXCHANGE_LOGIN_PER_ADDRESS): each costs a password check,
    so even correct ones are limited. Wrong passwords have their own, lower limits."""

    per_account: int = 30
    per_address: int = 600

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoginLimits:
        return rules_from_env(cls, env, "LOGIN")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccountService:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, limiter: RateLimiter,
        hasher: PasswordHasher | None = None, *, passwords: PasswordHashing | None = None,
        limits: LoginLimits | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._limiter = limiter
        self.passwords = passwords or PasswordHashing(hasher)
        self.limits = limits or LoginLimits()
        self._known: OrderedDict[bytes | int, tuple[Account, float]] = OrderedDict()
        """Accounts by token digest and by id, with when they were read (monotonic)."""

    def _recall(self, key: bytes | int) -> Account | None:
        found = self._known.get(key)
        if found is None or time.monotonic() - found[1] > KNOWN_FOR_S:
            return None
        return found[0]

    def _remember(self, key: bytes | int, account: Account) -> None:
        self._known[key] = (account, time.monotonic())
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_KEPT:
            self._known.popitem(last=False)

    async def register(self, form: Registration, *, allow_operator: bool = False) -> Account:
        errors = FieldErrors()
        roles = [r.value for r in (Role if allow_operator else SELF_REGISTERING_ROLES)]
        role = choice(errors, "role", form.role, roles)
        email = text(errors, "email", form.email, max_len=254).lower()
        if email and "email" not in errors.errors and not _EMAIL.match(email):
            errors.add("email", "is not an e-mail address")
        if len(form.password) < MIN_PASSWORD:
            errors.add("password", f"must be at least {MIN_PASSWORD} characters")
        elif len(form.password) > MAX_PASSWORD:
            errors.add("password", f"must be at most {MAX_PASSWORD} characters")
        display_name = text(errors, "display_name", form.display_name, max_len=200)
        contact_name = text(errors, "contact_name", form.contact_name, max_len=100, required=False)
        phone = text(errors, "phone", form.phone, max_len=40, required=False)
        errors.raise_if_any()
        password_hash = await self.passwords.hash(form.password)
        async with self._pool.acquire() as conn:
            account = await repo.insert_account(
                conn, role=Role(role), email=email, display_name=display_name,
                contact_name=contact_name, phone=phone, password_hash=password_hash,
                now=self._clock.now(),
            )
        if account is None:
            raise Conflict("an account with this e-mail address already exists",
                           field_errors={"email": "is already registered"})
        return account

    async def authenticate(self, email: str, password: str, *, client: str) -> Account:
        """Checks a password (in the hashing pool). Every attempt is counted before the check, in
        one atomic step per limit, so concurrent attempts cannot slip past a limit (429); a full
        hashing queue is a 503. Wrong passwords for an account slow further attempts on it (a
        wait that doubles, at most a minute: nobody can lock the owner out); wrong passwords from
        one client address lock that address out for the window. A right password takes back its
        count against the wrong-password limits."""
        address = email.strip().lower()[:254]
        email_key, client_key = f"login:email:{address}", f"login:client:{client[:64]}"
        tries_key, client_tries_key = f"login:tries:{address}", f"login:tries-client:{client[:64]}"
        await self._limiter.take(tries_key, self.limits.per_account, LOGIN_WINDOW_S)
        await self._limiter.take(client_tries_key, self.limits.per_address, LOGIN_WINDOW_S)
        await self._limiter.take_slowed(email_key, LOGIN_FAILURES_PER_EMAIL, LOGIN_SLOWEST_S, LOGIN_WINDOW_S)
        await self._limiter.take(client_key, LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_S)
        try:
            account = await self._check(email, password)
        except NotAuthenticated:
            raise
        except BaseException:  # not a wrong password (a full hashing queue, a database error)
            await self._limiter.give_back(email_key)
            await self._limiter.give_back(client_key)
            raise
        await self._limiter.reset(email_key)
        await self._limiter.give_back(client_key)
        return account

    async def _check(self, email: str, password: str) -> Account:
        async with self._pool.acquire() as conn:
            found = await repo.account_with_hash(conn, email.strip()[:254])
        if found is not None and len(password) <= MAX_PASSWORD:
            account, stored = found
            if await self.passwords.verify(stored, password):
                if self.passwords.needs_rehash(stored):
                    rehashed = await self.passwords.hash(password)
                    async with self._pool.acquire() as conn:
                        await repo.update_password_hash(conn, account.id, rehashed)
                return account
        else:
            # Same work as a real check, so timing does not reveal which addresses exist.
            await self.passwords.hash(password[:MAX_PASSWORD])
        raise NotAuthenticated("wrong e-mail address or password")

    async def reset_login_limits(self, operator: Account | None, account_id: int) -> None:
        """An operator lets an account's owner try again at once (wrong passwords forgotten)."""
        require_role(operator, Role.OPERATOR)
        account = await self.get(account_id)
        address = account.email.strip().lower()[:254]
        await self._limiter.reset(f"login:email:{address}")
        await self._limiter.reset(f"login:tries:{address}")

    async def get(self, account_id: int) -> Account:
        account = self._recall(account_id)
        if account is not None:
            return account
        async with self._pool.acquire() as conn:
            account = await repo.account_by_id(conn, account_id)
        if account is None:
            raise NotFound("no such account")
        self._remember(account_id, account)
        return account

    async def by_email(self, email: str) -> Account:
        """For operators picking an account by its address (e.g. to qualify a bidder)."""
        async with self._pool.acquire() as conn:
            account = await repo.account_by_email(conn, email.strip())
        if account is None:
            raise NotFound("no account has this e-mail address")
        return account

    async def issue_token(self, account: Account, name: str) -> IssuedToken:
        errors = FieldErrors()
        name = text(errors, "name", name, max_len=100)
        errors.raise_if_any()
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        prefix = token[: len(TOKEN_PREFIX) + 6]
        async with self._pool.acquire() as conn:
            token_id = await repo.insert_token(
                conn, account_id=account.id, name=name, token_hash=token_hash(token),
                prefix=prefix, now=self._clock.now(),
            )
        return IssuedToken(id=token_id, name=name, token=token, prefix=prefix)

    async def account_for_token(self, token: str) -> Account:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            raise NotAuthenticated("invalid API token")
        digest = token_hash(token)
        account = self._recall(digest)
        if account is not None:
            return account
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            found = await repo.account_by_token_hash(conn, digest)
            if found is None:
                self._known.pop(digest, None)
                raise NotAuthenticated("invalid or revoked API token")
            account, last_used = found
            if last_used is None or now - last_used >= TOUCH_EVERY:
                await repo.touch_token(conn, digest, now)
        self._remember(digest, account)
        return account

    async def tokens(self, account: Account) -> list[TokenInfo]:
        async with self._pool.acquire() as conn:
            return await repo.tokens_of(conn, account.id)

    async def revoke_token(self, account: Account, token_id: int) -> None:
        """Refused at once by this process, and by every other as soon as the revocation is
        announced (exchange/accounts/revocations.py); within KNOWN_FOR_S whatever happens."""
        async with self._pool.acquire() as conn, conn.transaction():
            token_hash = await repo.revoke_token(conn, account.id, token_id, self._clock.now())
            if token_hash is None:
                raise NotFound("no such active token")
            await revocations.announce(conn, "token", token_hash.hex())
        self._known.pop(token_hash, None)

    def forget(self, token_hash: bytes | None = None) -> None:
        """What this process read of a token (or of every token and account) is no longer trusted."""
        if token_hash is None:
            self._known.clear()
        else:
            self._known.pop(token_hash, None)


def require_role(account: Account | None, *roles: Role) -> Account:
    """The single place a role is checked inside the application layer."""
    if account is None:
        raise NotAuthenticated("log in first")
    if account.role not in roles:
        raise Forbidden("your account may not do this")
    return account
