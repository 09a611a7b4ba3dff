"""Institutions record and edit their own achievements."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.achievements import repository as repo
from exchange.achievements.types import (
    DOCUMENT_KINDS,
    FIELDS,
    Achievement,
    AchievementInput,
    FundingSource,
    Kind,
    Maturity,
)
from exchange.clock import Clock
from exchange.errors import Conflict, NotFound
from exchange.validation import FieldErrors, amount, choice, currency, text, text_list


def validate(form: AchievementInput) -> dict[str, Any]:
    errors = FieldErrors()
    values: dict[str, Any] = {
        "title": text(errors, "title", form.title, max_len=200),
        "title_en": text(errors, "title_en", form.title_en, max_len=200, required=False),
        "summary": text(errors, "summary", form.summary, max_len=5000, multiline=True),
        "summary_en": text(errors, "summary_en", form.summary_en, max_len=5000, required=False, multiline=True),
        "field": choice(errors, "field", form.field, FIELDS),
        "kind": choice(errors, "kind", form.kind, [k.value for k in Kind]),
        "funding_source": choice(errors, "funding_source", form.funding_source, [f.value for f in FundingSource]),
        "maturity": choice(errors, "maturity", form.maturity, [m.value for m in Maturity]),
        "currency": currency(errors, "currency", form.currency),
        "programme": text(errors, "programme", form.programme, max_len=200, required=False),
        "ip_identifiers": text_list(errors, "ip_identifiers", form.ip_identifiers, max_items=50, max_len=60),
        "inventors": text_list(errors, "inventors", form.inventors, max_items=50, max_len=100),
        "appraised_value": (
            None if form.appraised_value is None else amount(errors, "appraised_value", form.appraised_value)
        ),
    }
    if form.funding_source == FundingSource.PUBLIC and not values["programme"]:
        errors.add("programme", "name the funding programme of a publicly funded achievement")
    if len(form.documents) > 30:
        errors.add("documents", "at most 30 documents")
    documents = []
    for doc in form.documents[:30]:
        title = text(errors, "documents", doc.title, max_len=200)
        choice(errors, "documents", doc.kind, DOCUMENT_KINDS)
        if doc.pages is not None and not 0 < doc.pages <= 100_000:
            errors.add("documents", "pages must be between 1 and 100000")
        if doc.sha256 and (len(doc.sha256) != 64 or any(c not in "0123456789abcdef" for c in doc.sha256)):
            errors.add("documents", "sha256 must be 64 lowercase hex digits")
        documents.append({"title": title, "kind": doc.kind, "pages": doc.pages, "sha256": doc.sha256})
    errors.raise_if_any()
    values["documents"] = documents
    values["search_text"] = " ".join(
        [values["title"], values["title_en"], values["summary"], values["summary_en"],
         *values["ip_identifiers"], *values["inventors"], values["programme"]]
    ).lower()
    return values


class AchievementService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def record(self, account: Account | None, form: AchievementInput) -> Achievement:
        owner = require_role(account, Role.INSTITUTION)
        values = validate(form)
        async with self._pool.acquire() as conn, conn.transaction():
            new_id = await repo.insert(conn, owner.id, values, self._clock.now())
            found = await repo.get(conn, new_id)
        assert found is not None
        return found

    async def edit(self, account: Account | None, achievement_id: int, form: AchievementInput) -> Achievement:
        owner = require_role(account, Role.INSTITUTION)
        values = validate(form)
        async with self._pool.acquire() as conn, conn.transaction():
            current = await repo.get(conn, achievement_id, for_update=True)
            if current is None or current.owner_id != owner.id:
                raise NotFound("no such achievement among yours")
            if await repo.has_open_listing(conn, achievement_id):
                raise Conflict("this achievement has a listing under review or announced; its record is frozen")
            await repo.update(conn, achievement_id, values, self._clock.now())
            found = await repo.get(conn, achievement_id)
        assert found is not None
        return found

    async def get_own(self, account: Account | None, achievement_id: int) -> Achievement:
        owner = require_role(account, Role.INSTITUTION)
        async with self._pool.acquire() as conn:
            found = await repo.get(conn, achievement_id)
        if found is None or found.owner_id != owner.id:
            raise NotFound("no such achievement among yours")
        return found

    async def list_own(self, account: Account | None) -> list[Achievement]:
        owner = require_role(account, Role.INSTITUTION)
        async with self._pool.acquire() as conn:
            return await repo.of_owner(conn, owner.id)


def as_input(achievement: Achievement) -> AchievementInput:
    """The editable part of a stored achievement, e.g. to prefill a form."""
    fields = {f: getattr(achievement, f) for f in AchievementInput.__struct_fields__}
    return msgspec.convert(fields, AchievementInput, from_attributes=True, strict=False)
