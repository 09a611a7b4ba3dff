"""Quote rounds: one-time sealed quotes (一次性报价) and weighted quotes (综合评议) among a listing's
qualified, deposited buyers (DOMAIN.md, Listing 6 and 7).

The operator opens the round for a listing in competition whose method is a quote; the
buyers each submit one sealed quote (a price at or above the listing price, and for a
weighted quote a plan) until the deadline, receiving a receipt with its commitment. At the
deadline the sweep opens the round in public (also for deadlines that passed while the
exchange was down). The SealedBook ranks: a sealed quote by price, awarded at once; a
weighted quote once the evaluation panel's technical scores are entered. The award opens the
trade (the winner's deposit goes towards the price, the others are released at once); with no
valid quote the round fails, the listing is unsold and the deposits are released.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.errors import Conflict, Forbidden, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.infra.sweeper import Sweeper
from exchange.listings.types import PUBLIC_STATUSES
from exchange.quotes import book as sealed
from exchange.quotes import repository as repo
from exchange.quotes.notices import quote_opening
from exchange.quotes.types import (
    MAX_PLAN,
    POINTS,
    QUOTE_LABEL,
    QuoteInput,
    QuoteRules,
    RoundInput,
    RoundStatus,
    ScoresInput,
)
from exchange.quotes.views import iso, listing_view, receipt_view, round_view
from exchange.settlement.service import SettlementService
from exchange.settlement.types import Sale, TradeMethod
from exchange.tenders.book import micros
from exchange.tenders.sealing import Sealer, commitment_of, documents_digest
from exchange.validation import FieldErrors, amount, text
from matching_core.common import AdmitBidder, Tick
from matching_core.sealed import SealedBook
from matching_core.sealed_types import (
    FULL_SCORE,
    Evaluate,
    OpeningCancelled,
    ProposalsRanked,
    RevealProposal,
    SubmitProposal,
    TechnicalScore,
)

log = logging.getLogger(__name__)
METHODS = ("sealed_quote", "weighted_quote")


class QuoteService:
    def __init__(self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar, secret: str,
                 settlement: SettlementService, rules: QuoteRules | None = None) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._sealer = Sealer(secret, label=QUOTE_LABEL)
        self._settlement = settlement
        self.rules = rules or QuoteRules()
        self._sweeper = Sweeper("quote sweep", self.sweep, clock, lambda: self.rules.sweep_s)

    # -- the sweep -------------------------------------------------------------------------

    def start(self) -> None:
        """Sweeps at once (deadlines that passed while the exchange was down), then periodically."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    async def sweep(self) -> dict[str, int]:
        """Opens every round whose deadline passed: a sealed quote is awarded at once, a weighted
        one awaits the panel's scores; a round without a valid quote fails."""
        counts = {status.value: 0 for status in (RoundStatus.OPENED, RoundStatus.AWARDED, RoundStatus.FAILED)}
        async with self._pool.acquire() as conn:
            due = await repo.due_rounds(conn, self._clock.now())
        for listing_id in due:
            outcome = await self._open_due(listing_id)
            if outcome is not None:
                counts[outcome] += 1
        if counts["awarded"] or counts["failed"]:
            await self._settlement.card_actions()
        return counts

    # -- the operator opens the round --------------------------------------------------------

    async def open_round(self, viewer: Account | None, listing_id: int, data: RoundInput) -> dict[str, Any]:
        """Announces the round to the listing's buyers at once; quotes until the deadline, at least
        `min_wd` working days away."""
        staff = require_role(viewer, Role.OPERATOR)
        errors = FieldErrors()
        now = self._clock.now()
        earliest = self._calendar.period_end(now, self.rules.min_wd)
        if data.deadline.tzinfo is None:
            errors.add("deadline", "must include a time zone, e.g. 2026-04-01T17:00:00+08:00")
        elif data.deadline < earliest:
            errors.add("deadline", f"must be at least {self.rules.min_wd} working days from now: "
                                   f"{earliest.isoformat()} or later")
        errors.raise_if_any()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._listing(conn, listing_id, for_update=True)
            if listing["competitive_method"] not in METHODS:
                raise Conflict(f"listing {listing['reference_no']} is sold by "
                               f"{listing['competitive_method'].replace('_', ' ')}, not by a quote")
            if await repo.round_of(conn, listing_id) is not None:
                raise Conflict(f"the quote round of listing {listing['reference_no']} was already opened")
            if listing["status"] != "competition":
                raise Conflict(f"listing {listing['reference_no']} is {listing['status']}: a quote round opens "
                               "once two or more qualified buyers have paid their deposits")
            buyers = await repo.eligible_buyers(conn, listing)
            if len(buyers) < 2:
                raise Conflict(f"a quote round needs two or more qualified buyers with deposits held; "
                               f"listing {listing['reference_no']} has {len(buyers)}")
            round_id: int = await conn.fetchval("SELECT nextval('quote_rounds_id_seq')")
            public_key, wrapped = self._sealer.new_tender_keys(round_id)
            weighted = listing["competitive_method"] == "weighted_quote"
            await repo.insert_round(conn, {
                "id": round_id, "listing_id": listing_id, "method": listing["competitive_method"],
                "price_weight_bp": listing["price_weight_bp"] if weighted else FULL_SCORE,
                "opens_at": now, "deadline": data.deadline, "public_key": public_key, "wrapped_key": wrapped,
                "status": RoundStatus.COLLECTING.value, "created_by": staff.id, "created_at": now,
            })
        log.info("quote round opened for listing %s", listing["reference_no"])
        return await self.round(staff, listing_id)

    # -- the buyers ------------------------------------------------------------------------------

    async def submit(self, viewer: Account | None, listing_id: int, data: QuoteInput) -> dict[str, Any]:
        """One sealed quote per buyer; the answer is a receipt with its commitment, never its content.
        Sending the same quote again returns the same receipt."""
        buyer = require_role(viewer, Role.INVESTOR)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._listing(conn, listing_id)
            round_ = await repo.round_of(conn, listing_id, for_update=True)
            if round_ is None:
                raise Conflict(f"no quote round is open for listing {listing['reference_no']}")
            weighted = round_["method"] == "weighted_quote"
            errors = FieldErrors()
            price = amount(errors, "price", data.price)
            if "price" not in errors.errors and price < listing["listing_price"]:
                errors.add("price", f"must be at least the listing price, {listing['listing_price']} minor units")
            if weighted:
                plan = text(errors, "plan", data.plan, max_len=MAX_PLAN, multiline=True)
            elif data.plan.strip():
                errors.add("plan", "a one-time sealed quote is a price only")
                plan = ""
            else:
                plan = ""
            errors.raise_if_any()
            existing = await repo.proposal_of(conn, round_["id"], buyer.id)
            mac = self._sealer.request_mac(round_["id"], str(buyer.id), price, plan)
            if existing is not None:
                if existing["request_mac"] == mac:
                    return receipt_view(listing, existing, True)
                raise Conflict("you already submitted your sealed quote; each buyer quotes once "
                               f"(your receipt: {existing['commitment']})")
            if round_["status"] != RoundStatus.COLLECTING or now >= round_["deadline"]:
                raise Conflict(f"the quote round closed at {round_['deadline'].isoformat()}; "
                               "no quote can be submitted")
            if buyer.id not in await repo.eligible_buyers(conn, listing):
                raise Forbidden("only the listing's qualified buyers whose deposit is held may quote")
            book = sealed.rebuild(round_, listing["listing_price"], self.rules.min_proposals,
                                  await repo.proposals(conn, round_["id"]))
            name = str(buyer.id)
            content, ciphertext = Sealer.seal(round_["id"], round_["public_key"], name, price, plan, label=QUOTE_LABEL)
            commitment = commitment_of(name, content)
            try:
                sealed.apply(book, AdmitBidder(name), micros(now))
                sealed.apply(book, SubmitProposal(name, commitment), micros(now))
            except sealed.BookRefused as exc:
                raise Conflict(f"the sealed book refused the quote: {exc}") from None
            await repo.insert_proposal(conn, {
                "round_id": round_["id"], "investor_id": buyer.id, "commitment": commitment, "sealed": ciphertext,
                "request_mac": mac, "submitted_at": now,
            })
            stored = await repo.proposal_of(conn, round_["id"], buyer.id)
        assert stored is not None
        log.info("sealed quote received for listing %s", listing["reference_no"])
        return receipt_view(listing, stored, False)

    # -- the opening and the award ---------------------------------------------------------------

    async def _open_due(self, listing_id: int) -> str | None:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._listing(conn, listing_id, for_update=True)
            round_ = await repo.round_of(conn, listing_id, for_update=True)
            if round_ is None or round_["status"] != RoundStatus.COLLECTING or now < round_["deadline"]:
                return None
            proposals = await repo.proposals(conn, round_["id"])
            book = sealed.rebuild(round_, listing["listing_price"], self.rules.min_proposals, proposals)
            events = sealed.apply(book, Tick(), micros(now))
            await repo.set_round(conn, round_["id"], status=RoundStatus.OPENED.value, opened_at=now)
            revealed = 0
            if not any(isinstance(e, OpeningCancelled) for e in events):
                private = self._sealer.open_key(round_["id"], round_["wrapped_key"], round_["deadline"], now)
                for p in proposals:
                    name = str(p["investor_id"])
                    content = Sealer.unseal(round_["id"], private, name, p["sealed"], label=QUOTE_LABEL)
                    try:
                        sealed.apply(book, RevealProposal(name, content.price, documents_digest(content.technical),
                                                          content.nonce), micros(now))
                    except sealed.BookRefused as exc:
                        log.warning("quote of bidder %s on %s not revealed: %s", name, listing["reference_no"], exc)
                        continue
                    await repo.reveal(conn, round_["id"], p["investor_id"], content.price, content.technical,
                                      content.nonce, now)
                    revealed += 1
            await disclosure.publish(conn, await quote_opening(conn, listing_id, now))
            if revealed < self.rules.min_proposals or revealed == 0:
                return await self._fail(conn, listing, round_["id"], now)
            if round_["method"] == "sealed_quote":
                return await self._rank(conn, listing, round_, book, {})
        return RoundStatus.OPENED.value

    async def score(self, viewer: Account | None, listing_id: int, data: ScoresInput) -> dict[str, Any]:
        """The evaluation panel's technical scores (0..100) for every opened plan, entered by an
        operator: the book ranks by price part plus technical part and rank 1 is awarded."""
        staff = require_role(viewer, Role.OPERATOR)
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._listing(conn, listing_id, for_update=True)
            round_ = await repo.round_of(conn, listing_id, for_update=True)
            if round_ is None or round_["method"] != "weighted_quote" or round_["status"] != RoundStatus.OPENED:
                status = "not opened" if round_ is None else round_["status"]
                raise Conflict(f"the quote round of listing {listing['reference_no']} takes no technical scores "
                               f"now ({status})")
            proposals = await repo.proposals(conn, round_["id"])
            table = _scores(data.scores, {p["investor_id"] for p in proposals if p["revealed_at"] is not None})
            book = sealed.rebuild(round_, listing["listing_price"], self.rules.min_proposals, proposals)
            await self._rank(conn, listing, round_, book, table)
        await self._settlement.card_actions()
        return await self.round(staff, listing_id)

    async def _rank(self, conn: Conn, listing: asyncpg.Record, round_: asyncpg.Record, book: SealedBook,
                    technical: dict[int, int]) -> str:
        now = self._clock.now()
        scores = tuple(TechnicalScore(str(bidder), points * POINTS) for bidder, points in sorted(technical.items()))
        try:
            events = sealed.apply(book, Evaluate(round_["price_weight_bp"], scores), micros(now))
        except sealed.BookRefused as exc:
            raise Conflict(f"the sealed book refused the evaluation: {exc}") from None
        ranked = next(e for e in events if isinstance(e, ProposalsRanked))
        for bidder, points in technical.items():
            await repo.rank(conn, round_["id"], bidder, technical_score=points * POINTS)
        for candidate in ranked.candidates:
            await repo.rank(conn, round_["id"], int(candidate.bidder), rank=candidate.rank, total_score=candidate.score)
        if not ranked.candidates:
            return await self._fail(conn, listing, round_["id"], now)
        first = ranked.candidates[0]
        await repo.set_round(conn, round_["id"], status=RoundStatus.AWARDED.value, awarded_at=now,
                             winner_id=int(first.bidder), price=first.price)
        await repo.set_listing_status(conn, listing["id"], "dealt")
        sale = Sale(TradeMethod(round_["method"]), int(first.bidder), first.price, listing_id=listing["id"])
        await self._settlement.close_listing_sale(conn, listing["id"], sale, now)
        log.info("quote round of listing %s awarded", listing["reference_no"])
        return RoundStatus.AWARDED.value

    async def _fail(self, conn: Conn, listing: asyncpg.Record, round_id: int, now: datetime) -> str:
        await repo.set_round(conn, round_id, status=RoundStatus.FAILED.value)
        await repo.set_listing_status(conn, listing["id"], "unsold")
        await self._settlement.close_listing_sale(conn, listing["id"], None, now)
        log.info("quote round of listing %s failed: no valid quote", listing["reference_no"])
        return RoundStatus.FAILED.value

    # -- reading -------------------------------------------------------------------------------

    async def round(self, viewer: Account | None, listing_id: int) -> dict[str, Any]:
        """The listing's quote round as the viewer may see it: the public view, the buyer's own
        receipt and whether they may quote, the operator's plans and scores after the opening."""
        staff = viewer is not None and viewer.role == Role.OPERATOR
        async with self._pool.acquire() as conn:
            listing = await self._listing(conn, listing_id)
            if listing["status"] not in PUBLIC_STATUSES and not staff and (viewer is None or viewer.id != listing["seller_id"]):
                raise NotFound("no such listing")
            round_ = await repo.round_of(conn, listing_id)
            proposals = [] if round_ is None else await repo.proposals(conn, round_["id"])
            eligible = (viewer is not None and viewer.role == Role.INVESTOR
                        and viewer.id in await repo.eligible_buyers(conn, listing))
            trade_id = None
            if viewer is not None:
                trade_id = await conn.fetchval(
                    """SELECT id FROM trades WHERE listing_id = $1 AND auction_id IS NULL
                         AND ($3 OR buyer_id = $2 OR seller_id = $2) ORDER BY round DESC LIMIT 1""",
                    listing_id, viewer.id, staff)
        now = self._clock.now()
        own = None if viewer is None else next((p for p in proposals if p["investor_id"] == viewer.id), None)
        collecting = round_ is not None and round_["status"] == RoundStatus.COLLECTING and now < round_["deadline"]
        return {
            "listing": listing_view(listing),
            "round": None if round_ is None else round_view(round_, proposals, None if viewer is None else viewer.id,
                                                            staff),
            "my_receipt": None if own is None else receipt_view(listing, own, False),
            "eligible": eligible, "can_quote": eligible and own is None and collecting,
            "can_open": (staff and round_ is None and listing["status"] == "competition"
                         and listing["competitive_method"] in METHODS),
            "min_deadline": iso(self._calendar.period_end(now, self.rules.min_wd)),
            "trade_id": trade_id,
        }

    async def rounds(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every quote round, newest first (optionally of one status): what anyone may see of it."""
        if status is not None and status not in {s.value for s in RoundStatus}:
            raise ValidationFailed("unknown status", field_errors={
                "status": "one of " + ", ".join(s.value for s in RoundStatus)})
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT r.listing_id, r.method, r.status, r.deadline, l.reference_no, ach.title, ach.title_en,
                          (SELECT count(*) FROM quote_proposals p WHERE p.round_id = r.id) AS proposals
                   FROM quote_rounds r JOIN listings l ON l.id = r.listing_id
                   JOIN achievements ach ON ach.id = l.achievement_id
                   WHERE $1::text IS NULL OR r.status = $1 ORDER BY r.id DESC LIMIT 200""", status)
        return [{"listing_id": r["listing_id"], "reference_no": r["reference_no"], "title": r["title"],
                 "title_en": r["title_en"], "method": r["method"], "status": r["status"],
                 "deadline": iso(r["deadline"]), "proposals": r["proposals"]} for r in rows]

    async def _listing(self, conn: Conn, listing_id: int, *, for_update: bool = False) -> asyncpg.Record:
        listing = await repo.listing(conn, listing_id, for_update=for_update)
        if listing is None:
            raise NotFound("no such listing")
        return listing


def _scores(raw: dict[str, int], revealed: set[int]) -> dict[int, int]:
    errors = FieldErrors()
    table: dict[int, int] = {}
    for key, value in raw.items():
        if not key.isdigit() or int(key) not in revealed:
            errors.add("scores", f"{key} is not an opened quote's bidder")
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= POINTS:
            errors.add("scores", f"scores are whole points 0..{POINTS}")
        else:
            table[int(key)] = value
    if not errors.errors and set(table) != revealed:
        errors.add("scores", "score every opened quote, once")
    errors.raise_if_any()
    return table
