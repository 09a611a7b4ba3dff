"""Live English auctions (拍卖 / 网络竞价): scheduling, bidder admission, bids, the room.

Every change to a lot goes through the engine's sequencer, in this process or over the
engine link (exchange/auctions/access.py); reads are served from the state last committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import asyncpg
import redis.asyncio as aioredis

from exchange import disclosure
from exchange.accounts import repository as accounts
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.auctions import repository as repo
from exchange.auctions.access import EngineAccess, InProcess, Linked
from exchange.auctions.commands import Admission, PlaceBidRequest
from exchange.auctions.engine import AuctionEngine, feed_messages_after
from exchange.auctions.feed import FeedPublisher
from exchange.auctions.horizon import Horizon
from exchange.auctions.link import EngineLink, Ticket
from exchange.auctions.lot import Lot
from exchange.auctions.qualification import OperatorApproval, Qualification
from exchange.auctions.replicas import LotReplicas
from exchange.auctions.room import room_view, summary_view
from exchange.auctions.types import AuctionSpec, AuctionStatus, to_micros
from exchange.clock import Clock
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.listings import repository as listings
from exchange.listings.types import CompetitiveMethod, ListingStatus
from exchange.validation import MAX_AMOUNT, FieldErrors, amount
from matching_core.common import IncrementBand, increments_problem
from matching_core.english import EnglishBook
from matching_core.english_types import EnglishTerms, terms_problem

log = logging.getLogger(__name__)

MAX_QUIET_PERIOD_S = 86_400
MAX_DURATION = timedelta(days=366)
MAX_BANDS = 20
MAX_KEY_LENGTH = 100
OPENING_GRACE = timedelta(minutes=1)  # "open now" typed a moment ago is not in the past
AUCTION_NOTICE_DAYS = 7  # the auction notice (拍卖公告) is public at least 7 days before the start


def _moment(errors: FieldErrors, field: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        errors.add(field, "must include a time zone")
        return None
    return value


def _bands(errors: FieldErrors, spec: AuctionSpec) -> tuple[IncrementBand, ...]:
    if (spec.increment is None) == (spec.increment_table is None):
        errors.add("increment", "give either a fixed increment or an increment table")
        return ()
    if spec.increment is not None:
        return (IncrementBand(0, amount(errors, "increment", spec.increment)),)
    table = spec.increment_table or []
    if len(table) > MAX_BANDS:
        errors.add("increment_table", f"at most {MAX_BANDS} bands")
        return ()
    for band in table:
        amount(errors, "increment_table", band.from_price, allow_zero=True)
        amount(errors, "increment_table", band.step)
    bands = tuple(IncrementBand(b.from_price, b.step) for b in table)
    if "increment_table" not in errors.errors:
        problem = increments_problem(bands)
        if problem is not None:
            errors.add("increment_table", problem)
    return bands


def validate_spec(spec: AuctionSpec, now: datetime, notice: timedelta = timedelta(0),
                  acceleration: int = 1) -> EnglishTerms:
    """Every problem with the spec at once, named by field; then the core's own check. The
    opening must leave the auction notice public for at least `notice` (the rule's days divided
    by the exchange's `acceleration`)."""
    errors = FieldErrors()
    start = amount(errors, "start_price", spec.start_price)
    reserve = None if spec.reserve is None else amount(errors, "reserve", spec.reserve)
    if reserve and start and reserve < start:
        errors.add("reserve", "must not be below the start price")
    bands = _bands(errors, spec)
    opens_at = _moment(errors, "opens_at", spec.opens_at)
    end = _moment(errors, "scheduled_end", spec.scheduled_end)
    hard_cap = _moment(errors, "hard_cap", spec.hard_cap)
    if opens_at is not None and opens_at < now - OPENING_GRACE:
        errors.add("opens_at", "must not be in the past")
    elif opens_at is not None and notice and opens_at < now + notice:
        errors.add("opens_at", f"must leave the auction notice public for at least {_span(notice, acceleration)} "
                               f"before the start: not before {(now + notice).isoformat(timespec='seconds')}")
    if opens_at is not None and end is not None:
        if end <= opens_at:
            errors.add("scheduled_end", "must be after the opening")
        elif end - opens_at > MAX_DURATION:
            errors.add("scheduled_end", "free bidding may last at most a year")
    quiet = spec.quiet_period_s
    if isinstance(quiet, bool) or not isinstance(quiet, int) or not 1 <= quiet <= MAX_QUIET_PERIOD_S:
        errors.add("quiet_period_s", f"must be a whole number of seconds from 1 to {MAX_QUIET_PERIOD_S}")
    if hard_cap is not None and end is not None and hard_cap < end:
        errors.add("hard_cap", "must not be before the scheduled end")
    errors.raise_if_any()
    assert opens_at is not None and end is not None
    terms = EnglishTerms(
        start_price=start, increments=bands, opens_at=to_micros(opens_at),
        scheduled_end=to_micros(end), quiet_period=quiet * 1_000_000, reserve=reserve,
        hard_cap=None if hard_cap is None else to_micros(hard_cap),
    )
    problem = terms_problem(terms)
    if problem is not None:
        raise ValidationFailed(problem)
    return terms


def _span(notice: timedelta, acceleration: int) -> str:
    days = notice * acceleration / timedelta(days=1)
    said = f"{days:g} days"
    if acceleration > 1:
        said += f" ({notice.total_seconds():g} seconds at this exchange's acceleration of {acceleration})"
    return said


def request_hash(auction_id: int, kind: str, amount_: int) -> str:
    return hashlib.sha256(f"{auction_id}:{kind}:{amount_}".encode()).hexdigest()


class AuctionService:
    """With no `link`, the engine runs in this process (`auto_timers` defaults to off under a
    FixedClock: tests fire deadlines with `fire_due`); with one, it runs in another process."""

    def __init__(
        self, pool: asyncpg.Pool, redis: aioredis.Redis, clock: Clock,
        qualification: Qualification | None = None, *, auto_timers: bool | None = None,
        notice: timedelta = timedelta(days=AUCTION_NOTICE_DAYS), acceleration: int = 1,
        link: EngineLink | None = None, horizon: Horizon | None = None,
    ) -> None:
        """`notice`: how long before its start an auction's notice must be public (7 days,
        shortened by the exchange's acceleration). `horizon`: the engine's, when gateways link
        to it (exchange/auctions/horizon.py)."""
        self._pool = pool
        self.notice = notice
        self._acceleration = acceleration
        self._clock = clock
        self._qualification = qualification or OperatorApproval()
        self.engine: AuctionEngine | None = None
        self.feed: FeedPublisher | None = None
        self.on_closed: list[Callable[[int], Awaitable[None]]] = []
        """Called with each lot that closed, after its close is committed (in the engine's process)."""
        self._access: EngineAccess
        if link is None:
            self.engine = AuctionEngine(pool, redis, clock, auto_timers=auto_timers, horizon=horizon)
            self.feed, self.on_closed = self.engine.feed, self.engine.on_closed
            self._access = InProcess(self.engine)
        else:
            self._access = Linked(link, LotReplicas(pool))
        self.on_scheduled: list[Callable[[int, int], Awaitable[None]]] = []
        """Called with (auction id, listing id) after an auction is scheduled and committed."""
        self._names: dict[int, str] = {}

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """The engine (rebuilding every live book from its events), or the link to it."""
        await self._access.start()

    async def stop(self) -> None:
        await self._access.stop()

    async def fire_due(self) -> list[int]:
        """Applies every deadline due at the clock's time now; returns the lots that closed."""
        assert self.engine is not None, "deadlines are fired by the engine's process"
        return await self.engine.fire_due()

    @property
    def batches_committed(self) -> int:
        """Batches the sequencer has committed since this process started (for benchmarks)."""
        return 0 if self.engine is None else self.engine.batches

    @property
    def engine_ready(self) -> bool:
        """Bids can reach the engine now (it runs here, or the link to it is up)."""
        return self._access.ready

    def receipt(self) -> Ticket:
        """Call when a bid arrives, before awaiting anything: its time is now (pass it to `submit_bid`)."""
        return self._access.receipt()

    async def _lot(self, auction_id: int) -> Lot:
        return await self._access.lot(auction_id)

    def _now(self) -> int:
        return to_micros(self._clock.now())

    # -- operator ----------------------------------------------------------------------

    async def schedule(self, operator: Account | None, listing_id: int, spec: AuctionSpec) -> dict[str, Any]:
        staff = require_role(operator, Role.OPERATOR)
        now = self._clock.now()
        terms = validate_spec(spec, now, self.notice, self._acceleration)
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await listings.get(conn, listing_id, for_update=True)
            if listing is None:
                raise NotFound("no such listing")
            if listing.status not in (ListingStatus.ANNOUNCED, ListingStatus.COMPETITION):
                raise Conflict(f"this listing is {listing.status.value}; only an announced listing, or one "
                               "whose qualified buyers compete, can be auctioned")
            if listing.status == ListingStatus.ANNOUNCED and await listings.has_intents(conn, listing_id):
                raise Conflict("investors registered intent on this listing: it is sold through its procedure "
                               "(qualification, deposits, then the outcome), not by a direct auction")
            if listing.competitive_method != CompetitiveMethod.ENGLISH_AUCTION:
                raise Conflict("this listing is sold by another method than an English auction")
            if await repo.sold_before(conn, listing_id):
                raise Conflict("this listing has already been sold at auction")
            try:
                auction_id = await repo.insert(conn, {
                    "listing_id": listing_id, "currency": listing.currency,
                    "start_price": terms.start_price, "reserve": terms.reserve,
                    "increments": [{"from_price": b.from_price, "step": b.step} for b in terms.increments],
                    "opens_at": spec.opens_at, "scheduled_end": spec.scheduled_end,
                    "quiet_period_s": spec.quiet_period_s, "hard_cap": spec.hard_cap,
                    "state_hash": EnglishBook(terms).state_hash(), "scheduled_by": staff.id,
                    "created_at": now,
                })
            except asyncpg.UniqueViolationError as exc:
                raise Conflict("this listing already has an auction that has not closed") from exc
            await disclosure.publish(conn, await disclosure.auction_notice(conn, auction_id, now))
            row = await repo.get(conn, auction_id)
        assert row is not None
        await self._access.scheduled(auction_id)
        for hook in self.on_scheduled:
            await hook(auction_id, listing_id)
        return await self.get(auction_id)

    async def approve_bidder(self, operator: Account | None, auction_id: int, investor_id: int) -> dict[str, Any]:
        """资格审核: admits a qualified investor; the book gives the anonymous code (A001…)."""
        staff = require_role(operator, Role.OPERATOR)
        lot = await self._lot(auction_id)
        if lot.committed.closed:
            raise Conflict("this auction has closed")
        async with self._pool.acquire() as conn:
            investor = await accounts.account_by_id(conn, investor_id)
            if investor is None:
                raise NotFound("no such account")
            if investor.id == lot.info.seller_id:
                raise Conflict("the seller can never bid on its own lot")
            if investor.role != Role.INVESTOR:
                raise ValidationFailed("only investors can bid",
                                       field_errors={"investor_id": "is not an investor account"})
            existing = await repo.bidder(conn, auction_id, investor.id)
            if existing is None:
                problem = await self._qualification.problem(conn, lot.info, investor)
                if problem is not None:
                    raise Conflict(f"the investor is not qualified: {problem}")
        if existing is not None:
            return {"auction_id": auction_id, "account_id": investor.id, "code": existing["code"],
                    "approved_at": existing["approved_at"].isoformat(), "seq": None}
        admitted = await self._access.admit(Admission(auction_id, investor.id, staff.id))
        return {"auction_id": auction_id, "account_id": investor.id, "code": admitted["code"],
                "approved_at": self._clock.now().isoformat(), "seq": admitted["seq"]}

    async def bidders(self, operator: Account | None, auction_id: int) -> list[dict[str, Any]]:
        """The admitted bidders with their names: for operators only (the public sees codes)."""
        require_role(operator, Role.OPERATOR)
        await self._lot(auction_id)
        async with self._pool.acquire() as conn:
            rows = await repo.bidders(conn, auction_id)
        return [{"account_id": r["account_id"], "code": r["code"], "display_name": r["display_name"],
                 "email": r["email"], "approved_at": r["approved_at"].isoformat()} for r in rows]

    # -- bidders -----------------------------------------------------------------------

    async def submit_bid(
        self, account: Account | None, auction_id: int, kind: Literal["bid", "proxy"], amount: int,
        idempotency_key: str | None = None, *, ticket: Ticket | None = None,
    ) -> dict[str, Any]:
        """The acknowledgement, given only after the commit that holds the bid (or its refusal).
        `ticket`: the bid's receipt (`receipt()`, taken when it arrived); without one, now.
        The engine checks that the bidder is admitted and is not the seller."""
        received = ticket or self.receipt()
        try:
            bidder = require_role(account, Role.INVESTOR)
            errors = FieldErrors()
            if kind not in ("bid", "proxy"):
                errors.add("kind", "must be bid or proxy")
            if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
                errors.add("amount", f"must be a whole number of minor units from 1 to {MAX_AMOUNT}")
            if idempotency_key is not None and not (
                0 < len(idempotency_key) <= MAX_KEY_LENGTH and idempotency_key.isascii()
                and idempotency_key.isprintable()
            ):
                errors.add("idempotency_key", f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters")
            errors.raise_if_any()
            digest = None if idempotency_key is None else request_hash(auction_id, kind, amount)
            return await self._access.bid(
                PlaceBidRequest(auction_id, bidder.id, kind, amount, idempotency_key, digest), received)
        finally:
            received.release()

    # -- reading -------------------------------------------------------------------------

    async def room(self, auction_id: int, viewer: Account | None = None) -> dict[str, Any]:
        lot = await self._lot(auction_id)
        return room_view(lot, self._now(), viewer, await self._winner_name(lot))

    async def get(self, auction_id: int) -> dict[str, Any]:
        lot = await self._lot(auction_id)
        return summary_view(lot, self._now()) | {"result": await self._result(lot)}

    async def list_auctions(
        self, viewer: Account | None = None, *, status: str | None = None,
        listing_id: int | None = None, limit: int = 50, offset: int = 0,
    ) -> list[dict[str, Any]]:
        statuses = [s.value for s in AuctionStatus] if status is None else [status]
        limit, offset = max(1, min(limit, 200)), max(0, offset)
        async with self._pool.acquire() as conn:
            rows = await repo.listing(conn, statuses, listing_id=listing_id, limit=limit, offset=offset)
        lots = await self._access.lots([row["id"] for row in rows])
        found = []
        for row in rows:
            lot = lots[row["id"]]
            found.append(summary_view(lot, self._now()) | {"result": await self._result(lot)})
        return found

    async def qualified_for(self, account: Account | None, limit: int = 50) -> list[dict[str, Any]]:
        """An investor's own auctions: each summary with the investor's code and standing."""
        investor = require_role(account, Role.INVESTOR)
        async with self._pool.acquire() as conn:
            ids = await repo.qualified_for(conn, investor.id, max(1, min(limit, 200)))
        lots = await self._access.lots(ids)
        found = []
        for auction_id in ids:
            lot = lots[auction_id]
            bidder = str(investor.id)
            found.append(summary_view(lot, self._now()) | {
                "result": await self._result(lot),
                "your_code": lot.codes.get(bidder),
                "you_lead": lot.committed.leader == bidder,
            })
        return found

    async def events_after(self, auction_id: int, seq: int) -> list[dict[str, Any]]:
        """Committed feed messages after `seq` (at most 1000), for a watcher resynchronising."""
        return await feed_messages_after(self._pool, await self._lot(auction_id), seq)

    async def _winner_name(self, lot: Lot) -> str | None:
        if lot.result is None or not lot.result["sold"]:
            return None
        winner = int(lot.committed.leader)
        if winner not in self._names:
            async with self._pool.acquire() as conn:
                self._names[winner] = await repo.account_name(conn, winner) or ""
        return self._names[winner]

    async def _result(self, lot: Lot) -> dict[str, Any] | None:
        if lot.result is None:
            return None
        return lot.result | {"winner_name": await self._winner_name(lot)}
