"""Publishing to the disclosure chain, in the caller's transaction, and reading it back.

`publish` runs inside the transaction of the fact it publishes: both commit or neither
does. The chain lock it takes is held until that commit, so two publishers never give
two records the same predecessor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.clock import Clock
from exchange.disclosure import ocds
from exchange.disclosure import repository as repo
from exchange.disclosure.types import GENESIS, MAX_PAGE, Kind, Notice, Record, record_hash
from exchange.errors import NotFound, ValidationFailed
from exchange.infra.db import Conn

MAX_BODY_CHARS = 20_000


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON that survives jsonb unchanged: no floats (money is in minor units), string keys."""
    if depth > 8:
        return False
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def shape_problems(original: Any, corrected: Any, where: str) -> list[str]:
    """Where `corrected` lacks what `original` has: every key of every object (a correction may
    add fields, e.g. a status, never drop one), a list where there was a list (its items shaped
    like the original's first), a text where there was a text, a whole number where there was
    one; a null in the original takes any plain value."""
    if original is None:
        return []
    if isinstance(original, dict):
        if not isinstance(corrected, dict):
            return [f"{where} must be an object"]
        found = [f"{where}.{k} is missing" for k in original if k not in corrected]
        for key in original:
            if key in corrected:
                found += shape_problems(original[key], corrected[key], f"{where}.{key}")
        return found
    if isinstance(original, list):
        if not isinstance(corrected, list):
            return [f"{where} must be a list"]
        if not original:
            return []
        return [p for n, item in enumerate(corrected) for p in shape_problems(original[0], item, f"{where}[{n}]")]
    if corrected is None or type(corrected) is not type(original):
        kind = {bool: "true or false", int: "a whole number", str: "a text"}.get(type(original), "a value")
        return [f"{where} must be {kind}"]
    return []


async def publish(conn: Conn, notice: Notice | None) -> Record | None:
    """Appends `notice` to the chain (None: nothing to publish). A fact already published
    under the same kind and subject is returned as it stands, never published twice."""
    if notice is None:
        return None
    if not _plain(notice.body) or len(repr(notice.body)) > MAX_BODY_CHARS:
        raise ValueError(f"a {notice.kind} body must be plain JSON without floats, under {MAX_BODY_CHARS} characters")
    await repo.lock_chain(conn)
    if notice.corrects is None:
        existing = await repo.published(conn, notice.kind.value, notice.subject)
        if existing is not None:
            return existing
    last = await repo.head(conn)
    seq, prev_hash = (1, GENESIS) if last is None else (last[0] + 1, last[1])
    record = Record(
        seq=seq, kind=notice.kind.value, procedure=notice.procedure, subject=notice.subject,
        published_at=notice.published_at, open_until=notice.open_until, corrects=notice.corrects,
        body=notice.body, prev_hash=prev_hash,
        hash=record_hash(seq, notice.kind.value, notice.procedure, notice.subject, notice.published_at,
                         notice.open_until, notice.corrects, notice.body, prev_hash),
    )
    await repo.insert(conn, record)
    return record


async def correct(conn: Conn, seq: int, body: dict[str, Any], reason: str, now: datetime) -> Record:
    """A correction is a new record that names the one it corrects; the original stays as it was."""
    original = await repo.get(conn, seq)
    if original is None:
        raise NotFound("no disclosure record has this number")
    if not reason.strip() or len(reason) > 2000:
        raise ValidationFailed("a correction states its reason in at most 2000 characters",
                               field_errors={"reason": "is required, at most 2000 characters"})
    if not _plain(body) or len(repr(body)) > MAX_BODY_CHARS:
        raise ValidationFailed("the corrected content must be a JSON object of whole numbers, strings and lists",
                               field_errors={"body": "must be plain JSON without fractions, at most 20,000 characters"})
    original_body = {k: v for k, v in original.body.items() if k != "correction_reason"}
    problems = shape_problems(original_body, body, "body")
    if problems:
        raise ValidationFailed("the corrected content must keep every field of the corrected record, each of its kind: "
                               + "; ".join(problems[:10]), field_errors={"body": "; ".join(problems[:10])})
    record = await publish(conn, Notice(
        kind=Kind(original.kind), procedure=original.procedure, subject=original.subject, published_at=now,
        body=body | {"correction_reason": reason.strip()}, open_until=original.open_until, corrects=seq,
    ))
    assert record is not None
    return record


class DisclosureService:
    """The public reads: the notice board, one record, the feed and OCDS releases."""

    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def board(
        self, *, kind: str | None = None, procedure: str | None = None, before: int | None = None, limit: int = 50,
    ) -> list[Record]:
        """Newest first, for people reading the notice board."""
        kind = _kind(kind)
        async with self._pool.acquire() as conn:
            return await repo.page(conn, before=before, limit=_limit(limit), kind=kind,
                                   procedure=_procedure(procedure), newest_first=True)

    async def record(self, seq: int) -> tuple[Record, list[Record], Record | None]:
        """The record, the records that correct it, and the one it corrects."""
        async with self._pool.acquire() as conn:
            found = await repo.get(conn, seq)
            if found is None:
                raise NotFound("no disclosure record has this number")
            corrections = await repo.corrections_of(conn, seq)
            corrected = None if found.corrects is None else await repo.get(conn, found.corrects)
        return found, corrections, corrected

    async def feed(self, *, after: int = 0, limit: int = 100, kind: str | None = None,
                   procedure: str | None = None) -> dict[str, Any]:
        """Records after `after` in chain order; `next` is the cursor for the following page."""
        if after < 0:
            raise ValidationFailed("after must be 0 or more", field_errors={"after": "must be 0 or more"})
        kind = _kind(kind)
        limit = _limit(limit)
        async with self._pool.acquire() as conn:
            records = await repo.page(conn, after=after, limit=limit, kind=kind, procedure=_procedure(procedure))
        now = self.now()
        return {
            "records": [r.view(now) for r in records],
            "next": records[-1].seq if records else after,
            "more": len(records) == limit,
        }

    async def issue_correction(
        self, operator: Account | None, seq: int, body: dict[str, Any], reason: str,
    ) -> Record:
        """An operator publishes the corrected content of record `seq` as a new record."""
        require_role(operator, Role.OPERATOR)
        async with self._pool.acquire() as conn, conn.transaction():
            return await correct(conn, seq, body, reason, self.now())

    async def releases(self, procedure: str, *, base_url: str,
                       publication: ocds.Publication | None = None) -> dict[str, Any]:
        """The procedure's records as an OCDS release package (`base_url`: where it is published,
        unless the publication names its public address)."""
        publication = publication or ocds.Publication()
        key = _procedure(procedure) or ""
        records = []
        if key:
            async with self._pool.acquire() as conn:
                records = await repo.of_procedure(conn, key)
        if not records:
            raise NotFound("nothing has been published under this procedure reference")
        return ocds.release_package(key, records, self.now(), base_url=publication.public_url or base_url,
                                    prefix=publication.ocid_prefix)


def _kind(kind: str | None) -> str | None:
    if not kind:
        return None
    if kind not in {k.value for k in Kind}:
        raise ValidationFailed("no such kind of disclosure", field_errors={"kind": "is not a kind of disclosure"})
    return kind


def _procedure(procedure: str | None) -> str | None:
    cleaned = (procedure or "").strip().upper()[:60]
    return cleaned or None


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be 1 to {MAX_PAGE}", field_errors={"limit": f"must be 1 to {MAX_PAGE}"})
    return limit

