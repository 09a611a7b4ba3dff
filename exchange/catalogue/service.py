"""Substring search (pg_trgm-indexed ILIKE) with filters, for anyone."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from exchange.achievements.types import FIELDS, FundingSource, Kind
from exchange.clock import Clock
from exchange.listings import repository as listings
from exchange.listings.types import PUBLIC_STATUSES, Listing
from exchange.validation import MAX_AMOUNT, FieldErrors, amount, choice, text

PAGE_SIZE_MAX = 100
PHASES = ("announcing", "ended")
CATALOGUE_STATUSES = tuple(s for s in PUBLIC_STATUSES if s != "relisted")
"""A relisted listing is replaced by its relisting in the catalogue (its page stays public)."""


class CatalogueQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    q: str = ""
    field: str = ""
    kind: str = ""
    funding_source: str = ""
    status: str = ""
    min_price: int | None = None
    max_price: int | None = None
    page: int = 1
    page_size: int = 20


class CataloguePage(msgspec.Struct, frozen=True):
    items: list[Listing]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _like_pattern(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CatalogueService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock) -> None:
        self._pool = pool
        self._clock = clock

    async def search(self, query: CatalogueQuery) -> CataloguePage:
        errors = FieldErrors()
        q = text(errors, "q", query.q, max_len=100, required=False)
        if query.field:
            choice(errors, "field", query.field, FIELDS)
        if query.kind:
            choice(errors, "kind", query.kind, [k.value for k in Kind])
        if query.funding_source:
            choice(errors, "funding_source", query.funding_source, [f.value for f in FundingSource])
        if query.status:
            choice(errors, "status", query.status, PHASES)
        for name in ("min_price", "max_price"):
            value = getattr(query, name)
            if value is not None:
                amount(errors, name, value, allow_zero=True)
        if query.min_price is not None and query.max_price is not None and query.min_price > query.max_price:
            errors.add("max_price", "must not be below the minimum price")
        if not 1 <= query.page <= 10_000:
            errors.add("page", "must be between 1 and 10000")
        if not 1 <= query.page_size <= PAGE_SIZE_MAX:
            errors.add("page_size", f"must be between 1 and {PAGE_SIZE_MAX}")
        errors.raise_if_any()

        now: datetime = self._clock.now()
        args: list[object] = []

        def arg(value: object) -> str:
            args.append(value)
            return f"${len(args)}"

        where = [f"l.status = ANY({arg(list(CATALOGUE_STATUSES))}::text[])"]

        if q:
            where.append(f"l.search_text LIKE {arg(_like_pattern(q))}")
        if query.field:
            where.append(f"a.field = {arg(query.field)}")
        if query.kind:
            where.append(f"a.kind = {arg(query.kind)}")
        if query.funding_source:
            where.append(f"a.funding_source = {arg(query.funding_source)}")
        if query.status == "announcing":
            where.append(f"l.status = 'announced' AND l.announcement_end > {arg(now)}")
        elif query.status == "ended":
            where.append(f"NOT (l.status = 'announced' AND l.announcement_end > {arg(now)})")
        if query.min_price is not None:
            where.append(f"l.listing_price >= {arg(query.min_price)}")
        if query.max_price is not None and query.max_price < MAX_AMOUNT:
            where.append(f"l.listing_price <= {arg(query.max_price)}")
        condition = " AND ".join(where)
        async with self._pool.acquire() as conn:
            total: int = await conn.fetchval(f"SELECT count(*) FROM {listings.FROM} WHERE {condition}", *args)
            rows = await conn.fetch(
                f"""SELECT {listings.COLUMNS} FROM {listings.FROM} WHERE {condition}
                    ORDER BY l.announcement_start DESC, l.id DESC
                    LIMIT {arg(query.page_size)} OFFSET {arg((query.page - 1) * query.page_size)}""",
                *args,
            )
        return CataloguePage(
            items=[listings.to_listing(r) for r in rows], total=total, page=query.page,
            page_size=query.page_size,
        )
