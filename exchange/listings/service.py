"""Institutions submit listings; operators approve (announce) or return them with reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.achievements import repository as achievements
from exchange.achievements.types import Achievement
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.listings import repository as repo
from exchange.listings.types import (
    DEFAULT_ANNOUNCEMENT_WD,
    MIN_PRICE_WEIGHT_BP,
    PUBLIC_STATUSES,
    CompetitiveMethod,
    Listing,
    ListingInput,
    ListingStatus,
    ProcedureRules,
    Review,
    ReviewRecord,
    TransferMode,
    default_deposit,
)
from exchange.validation import FieldErrors, amount, choice, text
from matching_core.listing import ListingPrices, relist_floor

MAX_ANNOUNCEMENT_WD = 250


def _validate(form: ListingInput, achievement: Achievement, *, relisting: bool = False) -> dict[str, Any]:
    """`relisting`: a relisting of an unsold listing may go below the appraisal (to 90% of it
    freely, lower with the operator's approval at the review)."""
    errors = FieldErrors()
    price = amount(errors, "listing_price", form.listing_price)
    if (
        "listing_price" not in errors.errors
        and not relisting
        and achievement.appraised_value is not None
        and price < achievement.appraised_value
    ):
        errors.add("listing_price", "must not be below the appraised value of the achievement")
    deposit = default_deposit(price) if form.deposit is None else amount(errors, "deposit", form.deposit, allow_zero=True)
    if "deposit" not in errors.errors and deposit > price:
        errors.add("deposit", "must not exceed the listing price")
    days = form.announcement_working_days
    if isinstance(days, bool) or not DEFAULT_ANNOUNCEMENT_WD <= days <= MAX_ANNOUNCEMENT_WD:
        errors.add(
            "announcement_working_days",
            f"must be between {DEFAULT_ANNOUNCEMENT_WD} and {MAX_ANNOUNCEMENT_WD} working days",
        )
    weight = form.price_weight_bp
    if isinstance(weight, bool) or not MIN_PRICE_WEIGHT_BP <= weight <= 10_000:
        errors.add("price_weight_bp", f"the weight of price in a weighted quote: basis points from "
                                      f"{MIN_PRICE_WEIGHT_BP} ({MIN_PRICE_WEIGHT_BP // 100}%) to 10000 (100%)")
    values = {
        "listing_price": price,
        "deposit": deposit,
        "currency": achievement.currency,
        "transfer_mode": choice(errors, "transfer_mode", form.transfer_mode, [m.value for m in TransferMode]),
        "competitive_method": choice(
            errors, "competitive_method", form.competitive_method, [m.value for m in CompetitiveMethod]
        ),
        "terms": text(errors, "terms", form.terms, max_len=5000, multiline=True),
        "bidder_conditions": text(errors, "bidder_conditions", form.bidder_conditions, max_len=5000, multiline=True),
        "announcement_wd": days,
        "price_weight_bp": weight,
    }
    errors.raise_if_any()
    return values


def _floor(listing: Listing, rules: ProcedureRules) -> int:
    return relist_floor(ListingPrices(listing.listing_price, listing.appraised_value,
                                      relist_floor_bp=rules.relist_floor_bp))


def _below_relist_floor(listing: Listing, rules: ProcedureRules) -> bool:
    """A relisting priced below the floor (90% of the appraisal by default): only the operator's
    approval lets it through."""
    if listing.relisted_from is None or listing.appraised_value is None:
        return False
    return listing.listing_price < _floor(listing, rules)


def _search_text(achievement: Achievement, reference_no: str) -> str:
    return " ".join(
        [reference_no, achievement.title, achievement.title_en, achievement.summary,
         achievement.summary_en, achievement.owner_name, achievement.programme,
         *achievement.ip_identifiers, *achievement.inventors]
    ).lower()


class ListingService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar,
                 rules: ProcedureRules | None = None) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self.rules = rules or ProcedureRules()

    async def submit(self, account: Account | None, form: ListingInput) -> Listing:
        seller = require_role(account, Role.INSTITUTION)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            achievement = await achievements.get(conn, form.achievement_id, for_update=True)
            if achievement is None or achievement.owner_id != seller.id:
                raise NotFound("no such achievement among yours")
            values = _validate(form, achievement)
            if await achievements.has_open_listing(conn, achievement.id):
                raise Conflict("this achievement already has a listing under review or announced")
            reference_no = await repo.next_reference(conn, now)
            values |= {
                "reference_no": reference_no, "achievement_id": achievement.id,
                "seller_id": seller.id, "submitted_at": now,
                "search_text": _search_text(achievement, reference_no),
            }
            listing_id = await repo.insert(conn, values)
            return await self._get(conn, listing_id)

    async def resubmit(self, account: Account | None, listing_id: int, form: ListingInput) -> Listing:
        """A returned listing, corrected, goes back to the review queue."""
        seller = require_role(account, Role.INSTITUTION)
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._own(conn, seller, listing_id, for_update=True)
            if listing.status != ListingStatus.RETURNED:
                raise Conflict("only a listing returned by the operator can be corrected and resubmitted")
            achievement = await achievements.get(conn, listing.achievement_id)
            assert achievement is not None
            values = _validate(form, achievement, relisting=listing.relisted_from is not None)
            values |= {"submitted_at": self._clock.now(),
                       "search_text": _search_text(achievement, listing.reference_no)}
            await repo.resubmit(conn, listing_id, values)
            return await self._get(conn, listing_id)

    async def withdraw(self, account: Account | None, listing_id: int) -> Listing:
        seller = require_role(account, Role.INSTITUTION)
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._own(conn, seller, listing_id, for_update=True)
            if listing.status not in (ListingStatus.SUBMITTED, ListingStatus.RETURNED):
                raise Conflict("an announced listing cannot be withdrawn by the institution")
            await repo.set_status(conn, listing_id, ListingStatus.WITHDRAWN)
            return await self._get(conn, listing_id)

    async def review(self, account: Account | None, listing_id: int, review: Review) -> Listing:
        operator = require_role(account, Role.OPERATOR)
        errors = FieldErrors()
        decision = choice(errors, "decision", review.decision, ("approve", "return"))
        reasons = text(errors, "reasons", review.reasons, max_len=2000, required=decision == "return",
                       multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None:
                raise NotFound("no such listing")
            if listing.status != ListingStatus.SUBMITTED:
                raise Conflict(f"this listing is {listing.status.value}, not awaiting review")
            below_floor = decision == "approve" and _below_relist_floor(listing, self.rules)
            share = f"{self.rules.relist_floor_bp / 100:g}%"
            if review.approve_below_floor and not below_floor:
                raise ValidationFailed(f"only the approval of a relisting priced below {share} of the appraisal "
                                       "takes approve_below_floor", field_errors={
                                           "approve_below_floor": "this listing needs no such approval"})
            if below_floor and not review.approve_below_floor:
                floor = _floor(listing, self.rules)
                raise ValidationFailed(
                    f"a relisting below {share} of the appraisal needs the operator's explicit approval",
                    field_errors={"approve_below_floor": f"the price {listing.listing_price} is below the relisting "
                                                         f"floor {floor} ({share} of the appraisal): approve it "
                                                         "explicitly"})
            announcement = None
            if decision == "approve":
                announcement = (now, self.announcement_end(now, listing.announcement_working_days))
            await repo.record_review(
                conn, listing_id=listing_id, operator_id=operator.id, decision=decision,
                reasons=reasons, now=now, announcement=announcement, below_floor_approved=below_floor,
            )
            await disclosure.publish(conn, await disclosure.listing_announcement(conn, listing_id, now))
            return await self._get(conn, listing_id)

    def announcement_end(self, start: datetime, working_days: int) -> datetime:
        return self._calendar.period_end(start, working_days)

    async def review_queue(self, account: Account | None) -> list[Listing]:
        require_role(account, Role.OPERATOR)
        async with self._pool.acquire() as conn:
            return await repo.with_status(conn, ListingStatus.SUBMITTED)

    async def of_seller(self, account: Account | None) -> list[Listing]:
        seller = require_role(account, Role.INSTITUTION)
        async with self._pool.acquire() as conn:
            return await repo.of_seller(conn, seller.id)

    async def get_for(self, account: Account | None, listing_id: int) -> Listing:
        """A listing as its viewer may see it: the public sees it from its announcement on."""
        async with self._pool.acquire() as conn:
            listing = await repo.get(conn, listing_id)
        if listing is None:
            raise NotFound("no such listing")
        if listing.status.value in PUBLIC_STATUSES:
            return listing
        if account is not None and (account.role == Role.OPERATOR or account.id == listing.seller_id):
            return listing
        raise NotFound("no such listing")

    async def reviews(self, account: Account | None, listing_id: int) -> list[ReviewRecord]:
        listing = await self.get_for(account, listing_id)
        if account is None or (account.role != Role.OPERATOR and account.id != listing.seller_id):
            return []
        async with self._pool.acquire() as conn:
            return await repo.reviews(conn, listing_id)

    async def _own(self, conn: Conn, seller: Account, listing_id: int, *, for_update: bool) -> Listing:
        listing = await repo.get(conn, listing_id, for_update=for_update)
        if listing is None or listing.seller_id != seller.id:
            raise NotFound("no such listing among yours")
        return listing

    async def _get(self, conn: Conn, listing_id: int) -> Listing:
        listing = await repo.get(conn, listing_id)
        assert listing is not None
        return listing
