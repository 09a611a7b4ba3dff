"""The listing procedure after the announcement period (DOMAIN.md "Listing" points 4-7).

Investors register intent while the listing is announced; when the period ends the listing
is `qualifying`: within 5 working days the operator qualifies or refuses each intent against
the published bidder conditions only, the institution may comment on each, and a qualified
buyer pays the deposit within 3 working days or loses the right to bid. Once nothing is left
undecided or due, the core's outcome rule decides (0: unsold, the institution relists; 1: an
agreement at the listing price; 2+: the competition chosen at listing) and the outcome is
published with the buyers anonymous. The sweep applies every deadline, also those that
passed while the exchange was down.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts import repository as accounts
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.achievements import repository as achievements
from exchange.auctions.service import AuctionService
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.disclosure.types import instant
from exchange.errors import Conflict, Forbidden, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.infra.sweeper import Sweeper
from exchange.listings import repository as repo
from exchange.listings.procedure_types import (
    AgreementQuote,
    IntentComment,
    IntentDecision,
    IntentInput,
)
from exchange.listings.service import _search_text, _validate
from exchange.listings.types import (
    PUBLIC_STATUSES,
    CompetitiveMethod,
    Listing,
    ListingInput,
    ListingStatus,
    ProcedureRules,
)
from exchange.settlement import repository as settlement_repo
from exchange.settlement.service import SettlementService
from exchange.settlement.trades import TradeService
from exchange.settlement.types import Sale, TradeMethod
from exchange.settlement.views import deposit_view
from exchange.validation import FieldErrors, choice, text
from matching_core.codes import Rejection
from matching_core.listing import (
    CompetitiveMethod as CoreMethod,
)
from matching_core.listing import (
    IntendedBuyer,
    ListingOutcome,
    ListingOutcomeKind,
    ListingPrices,
    agreement_quote_problem,
    decide_listing_outcome,
    relist_floor,
)

log = logging.getLogger(__name__)

SWEEP_S = 5.0
MIN_SWEEP_S = 0.2
OUTCOMES = {ListingOutcomeKind.EXTEND_OR_RELIST: "unsold", ListingOutcomeKind.AGREEMENT: "agreement",
            ListingOutcomeKind.COMPETITION: "competition"}
CORE_METHODS = {CompetitiveMethod.ENGLISH_AUCTION: CoreMethod.ENGLISH_AUCTION,
                CompetitiveMethod.SEALED_QUOTE: CoreMethod.SEALED_QUOTE,
                CompetitiveMethod.WEIGHTED_QUOTE: CoreMethod.WEIGHTED_QUOTE}
LAPSED_AGREEMENT = "the buyer did not confirm the agreement quote in time"

_INTENTS = """SELECT i.id, i.listing_id, i.investor_id, a.display_name AS investor_name, i.statement,
    i.registered_at, i.status, i.comment, i.commented_at, i.decided_by, i.decided_at, i.reasons,
    i.unmet_conditions
    FROM listing_intents i JOIN accounts a ON a.id = i.investor_id"""


def published_conditions(listing: Listing) -> list[str]:
    """The bidder conditions as published in the announcement, one per line, numbered from 1."""
    return [line.strip() for line in listing.bidder_conditions.replace("\r", "").split("\n") if line.strip()]


def prices_of(listing: Listing, rules: ProcedureRules) -> ListingPrices:
    return ListingPrices(listing.listing_price, listing.appraised_value, CORE_METHODS[listing.competitive_method],
                         rules.relist_floor_bp)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class ListingProcedureService:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar, auctions: AuctionService,
        settlement: SettlementService, trades: TradeService, rules: ProcedureRules | None = None,
    ) -> None:
        self.rules = rules or ProcedureRules()
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._auctions = auctions
        self._settlement = settlement
        self._trades = trades
        # every 5 s, or every accelerated hour when that is shorter (a demo's fast clock), at least 0.2 s
        every_s = max(MIN_SWEEP_S, min(SWEEP_S, 3600 / calendar.acceleration))
        self._sweeper = Sweeper("listing procedure sweep", self.sweep, clock, lambda: every_s)

    def start(self) -> None:
        """Sweeps at once (deadlines that passed while the exchange was down), then every 5 s."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    # -- investors: intent -----------------------------------------------------------------

    async def register_intent(self, account: Account | None, listing_id: int, form: IntentInput) -> dict[str, Any]:
        """意向登记: during the announcement period only; the seller never."""
        investor = require_role(account, Role.INVESTOR)
        errors = FieldErrors()
        statement = text(errors, "statement", form.statement, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._public(conn, listing_id, for_update=True)
            if investor.id == listing.seller_id:
                raise Conflict("the seller can never register intent for its own listing")
            if not listing.announcing(now):
                raise Conflict("intent can be registered only during the announcement period"
                               + ("" if listing.announcement_end is None
                                  else f", which ended {listing.announcement_end.isoformat()}"))
            if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM auctions WHERE listing_id = $1)", listing_id):
                raise Conflict("this listing is sold by the operator's auction; ask the operator to qualify you")
            found = await conn.fetchrow(
                "SELECT id, status FROM listing_intents WHERE listing_id = $1 AND investor_id = $2 FOR UPDATE",
                listing_id, investor.id)
            if found is not None and found["status"] != "withdrawn":
                raise Conflict("you have already registered intent for this listing")
            if found is None:
                await conn.execute(
                    """INSERT INTO listing_intents (listing_id, investor_id, statement, registered_at, status)
                       VALUES ($1, $2, $3, $4, 'registered')""", listing_id, investor.id, statement, now)
            else:
                await conn.execute(
                    """UPDATE listing_intents SET status = 'registered', statement = $2, registered_at = $3
                       WHERE id = $1""", found["id"], statement, now)
        return await self.procedure(investor, listing_id)

    async def withdraw_intent(self, account: Account | None, listing_id: int) -> dict[str, Any]:
        """An intent can be withdrawn until the announcement period ends."""
        investor = require_role(account, Role.INVESTOR)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._public(conn, listing_id, for_update=True)
            updated = await conn.fetchval(
                """UPDATE listing_intents SET status = 'withdrawn'
                   WHERE listing_id = $1 AND investor_id = $2 AND status = 'registered' RETURNING id""",
                listing_id, investor.id) if listing.announcing(now) else None
            if updated is None:
                if not listing.announcing(now):
                    raise Conflict("an intent can be withdrawn only during the announcement period")
                raise NotFound("you have no registered intent for this listing")
        return await self.procedure(investor, listing_id)

    # -- qualification -----------------------------------------------------------------------

    async def comment(self, account: Account | None, listing_id: int, intent_id: int,
                      form: IntentComment) -> dict[str, Any]:
        """The institution's comment on an undecided intent, until the qualification is due."""
        seller = require_role(account, Role.INSTITUTION)
        errors = FieldErrors()
        comment = text(errors, "comment", form.comment, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None or listing.seller_id != seller.id:
                raise NotFound("no such listing among yours")
            intent = await self._qualifying_intent(conn, listing, intent_id, now)
            await conn.execute("UPDATE listing_intents SET comment = $2, commented_at = $3 WHERE id = $1",
                               intent["id"], comment, now)
        return await self.procedure(seller, listing_id)

    async def decide(self, account: Account | None, listing_id: int, intent_id: int,
                     form: IntentDecision) -> dict[str, Any]:
        """资格确认 against the published conditions only: a refusal names the conditions not met
        and gives reasons. Qualifying asks the buyer's deposit (due in 3 working days)."""
        staff = require_role(account, Role.OPERATOR)
        errors = FieldErrors()
        decision = choice(errors, "decision", form.decision, ("qualify", "refuse"))
        reasons = text(errors, "reasons", form.reasons, max_len=2000, multiline=True, required=decision == "refuse")
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None:
                raise NotFound("no such listing")
            conditions = published_conditions(listing)
            unmet = list(form.unmet_conditions)
            if decision == "refuse" and not unmet:
                errors.add("unmet_conditions", "a refusal must name the published conditions not met "
                                               f"(numbers 1 to {len(conditions)})")
            if decision == "qualify" and unmet:
                errors.add("unmet_conditions", "a qualified investor meets every published condition")
            if any(isinstance(n, bool) or not 1 <= n <= len(conditions) for n in unmet) or len(set(unmet)) != len(unmet):
                errors.add("unmet_conditions", f"each must be the number of a published condition, 1 to "
                                               f"{len(conditions)}, named once")
            errors.raise_if_any()
            intent = await self._qualifying_intent(conn, listing, intent_id, now)
            await conn.execute(
                """UPDATE listing_intents SET status = $2, reasons = $3, unmet_conditions = $4,
                       decided_by = $5, decided_at = $6 WHERE id = $1""",
                intent["id"], "qualified" if decision == "qualify" else "refused", reasons, sorted(unmet),
                staff.id, now)
            if decision == "qualify":
                await self._settlement.listing_deposit(conn, listing_id, intent["investor_id"], staff.id, now)
        await self._advance(listing_id)
        return await self.procedure(staff, listing_id)

    async def _qualifying_intent(self, conn: Conn, listing: Listing, intent_id: int, now: datetime) -> asyncpg.Record:
        intent = await conn.fetchrow(f"{_INTENTS} WHERE i.id = $1 AND i.listing_id = $2 FOR UPDATE OF i",
                                     intent_id, listing.id)
        if intent is None:
            raise NotFound("no such intent for this listing")
        if listing.status != ListingStatus.QUALIFYING:
            raise Conflict(f"this listing is {listing.status.value}: intents are qualified only after the "
                           "announcement period ends, until the qualification is due")
        assert listing.qualification_due is not None
        if now > listing.qualification_due:
            raise Conflict(f"the qualification was due by {listing.qualification_due.isoformat()}")
        if intent["status"] != "registered":
            raise Conflict(f"this intent is already {intent['status']}")
        return intent

    # -- the one buyer's agreement ---------------------------------------------------------

    async def confirm_agreement(self, account: Account | None, listing_id: int, form: AgreementQuote) -> dict[str, Any]:
        """The one qualified, deposited buyer confirms a quote at or above the listing price; the
        trade opens with its deposit towards the price."""
        buyer = require_role(account, Role.INVESTOR)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await self._public(conn, listing_id, for_update=True)
            if listing.status != ListingStatus.AGREEMENT:
                raise Conflict(f"this listing is {listing.status.value}, not awaiting an agreement quote")
            if buyer.id not in await self._eligible(conn, listing):
                raise Forbidden("only the listing's one qualified buyer confirms the agreement")
            assert listing.agreement_due is not None
            if now > listing.agreement_due:
                raise Conflict(f"the agreement quote was due by {listing.agreement_due.isoformat()}")
            problem = agreement_quote_problem(prices_of(listing, self.rules), form.quote)
            if problem is not None:
                raise ValidationFailed("the quote must be a whole amount at or above the listing price", field_errors={
                    "quote": f"must be at least the listing price, {listing.listing_price} minor units"})
            trade_id = await self._settlement.close_listing_sale(
                conn, listing_id, Sale(TradeMethod.LISTING_AGREEMENT, buyer.id, form.quote, listing_id=listing_id), now)
            await repo.set_status(conn, listing_id, ListingStatus.DEALT)
        await self._settlement.card_actions()
        return await self.procedure(buyer, listing_id) | {"trade_id": trade_id}

    # -- relisting --------------------------------------------------------------------------

    async def relist(self, account: Account | None, listing_id: int, form: ListingInput) -> Listing:
        """重新挂牌 of an unsold listing: a new listing back to the operator's review. Its price may
        go down to 90% of the appraisal; lower, the operator must approve it at the review."""
        seller = require_role(account, Role.INSTITUTION)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            old = await repo.get(conn, listing_id, for_update=True)
            if old is None or old.seller_id != seller.id:
                raise NotFound("no such listing among yours")
            if not await self._relistable(conn, old):
                raise Conflict(f"this listing is {old.status.value}; only an unsold listing can be relisted")
            if form.achievement_id != old.achievement_id:
                raise ValidationFailed("a relisting offers the same achievement", field_errors={
                    "achievement_id": f"must be {old.achievement_id}, the achievement of the unsold listing"})
            achievement = await achievements.get(conn, old.achievement_id, for_update=True)
            assert achievement is not None
            values = _validate(form, achievement, relisting=True)
            await repo.set_status(conn, listing_id, ListingStatus.RELISTED)
            if await achievements.has_open_listing(conn, achievement.id):
                raise Conflict("this achievement already has a listing under review or announced")
            reference_no = await repo.next_reference(conn, now)
            values |= {"reference_no": reference_no, "achievement_id": achievement.id, "seller_id": seller.id,
                       "submitted_at": now, "search_text": _search_text(achievement, reference_no),
                       "relisted_from": listing_id}
            new_id = await repo.insert(conn, values)
            relisting = await repo.get(conn, new_id)
        assert relisting is not None
        return relisting

    async def _relistable(self, conn: Conn, listing: Listing) -> bool:
        """Unsold, or dealt but its sale forfeited and the operator decided to relist it."""
        if listing.status == ListingStatus.UNSOLD:
            return True
        if listing.status != ListingStatus.DEALT:
            return False
        open_sale: bool = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM trades WHERE listing_id = $1
                   AND NOT (status = 'forfeited' AND next_step = 'relist')
                   AND NOT (status = 'forfeited' AND method = 'listing_agreement'))""", listing.id)
        return not open_sale

    # -- the English auction of a competition ----------------------------------------------

    async def auction_scheduled(self, auction_id: int, listing_id: int) -> None:
        """An auction scheduled for a competition listing: the held deposits now secure it and
        exactly the qualified, deposited buyers are admitted (the sweep retries a failure).
        Wired as the auction service's `on_scheduled` hook by `Services.build`."""
        try:
            await self._admit_buyers(auction_id, listing_id)
        except Exception:
            log.exception("admitting the buyers of listing %s to auction %s failed; the sweep retries it",
                          listing_id, auction_id)

    async def _admit_buyers(self, auction_id: int, listing_id: int) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None or listing.status != ListingStatus.COMPETITION:
                return 0
            await self._settlement.move_deposits_to_auction(conn, listing_id, auction_id)
            buyers = await self._eligible(conn, listing)
            operator_id: int = await conn.fetchval("SELECT scheduled_by FROM auctions WHERE id = $1", auction_id)
            operator = await accounts.account_by_id(conn, operator_id)
            admitted = {r["account_id"] for r in await conn.fetch(
                "SELECT account_id FROM auction_bidders WHERE auction_id = $1", auction_id)}
        count = 0
        for investor_id in buyers:
            if investor_id not in admitted:
                await self._auctions.approve_bidder(operator, auction_id, investor_id)
                count += 1
        return count

    # -- the sweep ---------------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Ends announcement periods, decides outcomes, lapses agreements and follows auctions."""
        now = self._clock.now()
        counts = {"ended": 0, "decided": 0, "lapsed": 0, "dealt": 0, "unsold": 0, "admitted": 0}
        async with self._pool.acquire() as conn:
            ended = await conn.fetch(
                """SELECT l.id FROM listings l WHERE l.status = 'announced' AND l.announcement_end <= $1
                     AND NOT EXISTS (SELECT 1 FROM auctions a WHERE a.listing_id = l.id) ORDER BY l.id""", now)
            qualifying = await conn.fetch("SELECT id FROM listings WHERE status = 'qualifying' ORDER BY id")
            lapsed = await conn.fetch(
                "SELECT id FROM listings WHERE status = 'agreement' AND agreement_due < $1 ORDER BY id", now)
            auctioned = await conn.fetch(
                """SELECT l.id AS listing_id, a.id AS auction_id, a.status, a.sold,
                          EXISTS (SELECT 1 FROM trades t WHERE t.auction_id = a.id) AS traded
                   FROM listings l JOIN auctions a ON a.listing_id = l.id
                   WHERE l.status = 'competition' ORDER BY a.id""")
        for row in ended:
            counts["ended"] += await self._end_period(row["id"])
        for row in qualifying:
            counts["decided"] += await self._advance(row["id"])
        for row in lapsed:
            counts["lapsed"] += await self._lapse_agreement(row["id"])
        for row in auctioned:
            if row["traded"]:
                counts["dealt"] += await self._follow_auction(row["listing_id"], ListingStatus.DEALT)
            elif row["status"] == "closed" and not row["sold"]:
                counts["unsold"] += await self._follow_auction(row["listing_id"], ListingStatus.UNSOLD)
            elif row["status"] != "closed":
                counts["admitted"] += await self._admit_buyers(row["auction_id"], row["listing_id"])
        return counts

    async def _end_period(self, listing_id: int) -> int:
        """The period ended: qualification starts (due 5 wd after the end); with no intent the
        outcome is decided at once."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if (listing is None or listing.status != ListingStatus.ANNOUNCED or listing.announcement_end is None
                    or listing.announcement_end > now
                    or await conn.fetchval("SELECT EXISTS (SELECT 1 FROM auctions WHERE listing_id = $1)", listing_id)):
                return 0
            due = self._calendar.period_end(listing.announcement_end, self.rules.qualification_wd)
            await conn.execute("UPDATE listings SET status = 'qualifying', qualification_due = $2 WHERE id = $1",
                               listing_id, due)
        await self._advance(listing_id)
        return 1

    async def _advance(self, listing_id: int) -> int:
        """Decides the outcome once no intent is undecided (or the qualification is overdue) and
        no deposit is still due; 1 when it did."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None or listing.status != ListingStatus.QUALIFYING:
                return 0
            assert listing.qualification_due is not None
            intents = await self._intents(conn, listing_id)
            undecided = [i for i in intents if i["status"] == "registered"]
            if undecided and now <= listing.qualification_due:
                return 0
            deposits = await self._settlement.listing_deposits(conn, listing_id)
            if any(d["status"] == "due" and d["due_at"] >= now for d in deposits):
                return 0
            held = {d["investor_id"] for d in deposits if d["status"] == "held"}
            buyers = [IntendedBuyer(str(i["investor_id"]), i["status"] == "qualified",
                                    listing.deposit == 0 or i["investor_id"] in held)
                      for i in intents if i["status"] != "withdrawn"]
            outcome = decide_listing_outcome(prices_of(listing, self.rules), buyers)
            if isinstance(outcome, Rejection):
                log.error("listing %s: the outcome rule refused its buyers: %s", listing_id, outcome)
                return 0
            await self._apply_outcome(conn, listing, outcome, buyers, now)
        await self._settlement.card_actions()
        return 1

    async def _apply_outcome(self, conn: Conn, listing: Listing, outcome: ListingOutcome,
                             buyers: list[IntendedBuyer], now: datetime) -> None:
        status = OUTCOMES[outcome.kind]
        agreement_due = None
        if outcome.kind == ListingOutcomeKind.AGREEMENT:
            agreement_due = self._calendar.period_end(now, self._settlement.rules.contract_wd)
        await conn.execute(
            "UPDATE listings SET status = $2, outcome_at = $3, agreement_due = $4 WHERE id = $1",
            listing.id, status, now, agreement_due)
        if outcome.kind == ListingOutcomeKind.EXTEND_OR_RELIST:
            await self._settlement.close_listing_sale(conn, listing.id, None, now)  # lapses what is left
        await disclosure.publish(conn, disclosure.Notice(
            kind=disclosure.Kind.LISTING_OUTCOME, procedure=listing.reference_no,
            # one outcome per announcement period (an extended period has its own)
            subject=f"{listing.reference_no}-OUTCOME-{instant(listing.announcement_end)}", published_at=now,
            body={
                "item": {"reference_no": listing.reference_no, "title": listing.title, "title_en": listing.title_en},
                "seller": listing.seller_name, "announcement_end": instant(listing.announcement_end),
                "intents": len(buyers), "qualified": sum(b.qualified for b in buyers),
                "qualified_and_deposited": len(outcome.buyers), "outcome": status,
                "listing_price": listing.listing_price, "currency": listing.currency.strip(),
                "method": listing.competitive_method.value if outcome.kind == ListingOutcomeKind.COMPETITION else None,
                "relist_floor": outcome.relist_floor if outcome.kind == ListingOutcomeKind.EXTEND_OR_RELIST else None,
                "agreement_due": instant(agreement_due),
            },
        ))

    async def _lapse_agreement(self, listing_id: int) -> int:
        """The one buyer let the agreement lapse: its deposit is forfeited as a winner's who does
        not sign (a trade at the listing price, forfeited at once; no deal was made, so no deal
        announcement), and the listing is unsold."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if (listing is None or listing.status != ListingStatus.AGREEMENT or listing.agreement_due is None
                    or listing.agreement_due >= now):
                return 0
            eligible = await self._eligible(conn, listing)
            held = [d for d in await self._settlement.listing_deposits(conn, listing_id)
                    if d["status"] == "held" and d["investor_id"] in eligible]
            if held:
                sale = Sale(TradeMethod.LISTING_AGREEMENT, held[0]["investor_id"], listing.listing_price,
                            listing_id=listing_id)
                trade_id = await self._settlement.close_listing_sale(conn, listing_id, sale, now, announce=False)
                assert trade_id is not None
                trade = await settlement_repo.trade(conn, trade_id, for_update=True)
                assert trade is not None
                await self._trades.forfeit(conn, trade, LAPSED_AGREEMENT, now)
            else:
                await self._settlement.close_listing_sale(conn, listing_id, None, now)
            await repo.set_status(conn, listing_id, ListingStatus.UNSOLD)
        await self._settlement.card_actions()
        return 1

    async def _follow_auction(self, listing_id: int, status: ListingStatus) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            listing = await repo.get(conn, listing_id, for_update=True)
            if listing is None or listing.status != ListingStatus.COMPETITION:
                return 0
            await repo.set_status(conn, listing_id, status)
        return 1

    # -- reading ------------------------------------------------------------------------------

    async def procedure(self, account: Account | None, listing_id: int) -> dict[str, Any]:
        """The procedure as its viewer may see it: the operator and the institution see every
        intent; an investor its own; everyone the deadlines, the counts and the outcome."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            listing = await self._public(conn, listing_id)
            staff = account is not None and (account.role == Role.OPERATOR or account.id == listing.seller_id)
            intents = await self._intents(conn, listing_id)
            deposits = await settlement_repo.deposits_where(conn, "d.listing_id = $1", listing_id, limit=100_000)
            eligible = await self._eligible(conn, listing) if listing.outcome_at is not None else []
            auctions = [dict(r) for r in await conn.fetch(
                "SELECT id, status, sold FROM auctions WHERE listing_id = $1 ORDER BY id", listing_id)]
            trades = await conn.fetch(
                "SELECT id, buyer_id, status, method FROM trades WHERE listing_id = $1 ORDER BY id", listing_id)
            relisted_as = await conn.fetchval("SELECT id FROM listings WHERE relisted_from = $1", listing_id)
            relistable = staff and account is not None and account.id == listing.seller_id \
                and await self._relistable(conn, listing)
        by_investor: dict[int, asyncpg.Record] = {}
        for d in deposits:  # newest first: keep the latest of each investor
            by_investor.setdefault(d["investor_id"], d)
        own = [i for i in intents if account is not None and i["investor_id"] == account.id]
        shown = intents if staff else own
        conditions = published_conditions(listing)
        open_statuses = ("registered", "qualified", "refused")
        view: dict[str, Any] = {
            "listing_id": listing.id, "reference_no": listing.reference_no, "status": listing.status.value,
            "seller_id": listing.seller_id, "method": listing.competitive_method.value,
            "listing_price": listing.listing_price, "appraisal": listing.appraised_value,
            "deposit": listing.deposit, "currency": listing.currency.strip(),
            "announcement_end": _iso(listing.announcement_end), "qualification_due": _iso(listing.qualification_due),
            "outcome_at": _iso(listing.outcome_at), "agreement_due": _iso(listing.agreement_due),
            "relisted_from": listing.relisted_from, "relisted_as": relisted_as,
            "relist_floor": relist_floor(prices_of(listing, self.rules)) if listing.appraised_value is not None else None,
            "conditions": conditions,
            "counts": {"intents": sum(i["status"] in open_statuses for i in intents),
                       "qualified": sum(i["status"] == "qualified" for i in intents),
                       "deposited": len(eligible) if listing.outcome_at is not None else None},
            "intents": [self._intent_view(i, by_investor.get(i["investor_id"]), now, listing,
                                          with_name=staff) for i in shown],
            "my_intent": None,
            "auctions": [{"id": a["id"], "status": a["status"], "sold": a["sold"]} for a in auctions],
            "trades": [{"id": t["id"], "status": t["status"], "method": t["method"]} for t in trades
                       if staff or (account is not None and t["buyer_id"] == account.id)],
            "can": {
                "register": account is not None and account.role == Role.INVESTOR
                            and account.id != listing.seller_id and listing.announcing(now) and not auctions
                            and not any(i["status"] != "withdrawn" for i in own),
                "withdraw": listing.announcing(now) and any(i["status"] == "registered" for i in own),
                "decide": account is not None and account.role == Role.OPERATOR and self._deciding(listing, now),
                "comment": account is not None and account.id == listing.seller_id and self._deciding(listing, now),
                "confirm": account is not None and listing.status == ListingStatus.AGREEMENT
                           and account.id in eligible and listing.agreement_due is not None
                           and now <= listing.agreement_due,
                "schedule_auction": account is not None and account.role == Role.OPERATOR
                                    and listing.status == ListingStatus.COMPETITION
                                    and listing.competitive_method == CompetitiveMethod.ENGLISH_AUCTION
                                    and not any(a["status"] != "closed" for a in auctions),
                "relist": bool(relistable),
            },
        }
        if own:
            view["my_intent"] = view["intents"][0] if not staff else self._intent_view(
                own[0], by_investor.get(own[0]["investor_id"]), now, listing, with_name=False)
            view["my_intent"]["buyer"] = own[0]["investor_id"] in eligible
        return view

    @staticmethod
    def _deciding(listing: Listing, now: datetime) -> bool:
        return (listing.status == ListingStatus.QUALIFYING and listing.qualification_due is not None
                and now <= listing.qualification_due)

    @staticmethod
    def _intent_view(intent: asyncpg.Record, deposit: asyncpg.Record | None, now: datetime, listing: Listing,
                     *, with_name: bool) -> dict[str, Any]:
        overdue = (intent["status"] == "registered" and listing.qualification_due is not None
                   and now > listing.qualification_due)
        deposit_info = None
        if deposit is not None:
            deposit_info = deposit_view(deposit)
            if deposit_info["status"] == "due" and now > deposit["due_at"]:
                deposit_info["status"] = "lapsed"
        return {
            "id": intent["id"], "investor_id": intent["investor_id"] if with_name else None,
            "investor_name": intent["investor_name"] if with_name else None,
            "statement": intent["statement"], "registered_at": intent["registered_at"].isoformat(),
            "status": "undecided_in_time" if overdue else intent["status"],
            "comment": intent["comment"], "commented_at": _iso(intent["commented_at"]),
            "decided_at": _iso(intent["decided_at"]), "reasons": intent["reasons"],
            "unmet_conditions": list(intent["unmet_conditions"]), "deposit": deposit_info,
        }

    async def _public(self, conn: Conn, listing_id: int, *, for_update: bool = False) -> Listing:
        listing = await repo.get(conn, listing_id, for_update=for_update)
        if listing is None or listing.status.value not in PUBLIC_STATUSES:
            raise NotFound("no such listing")
        return listing

    @staticmethod
    async def _intents(conn: Conn, listing_id: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await conn.fetch(f"{_INTENTS} WHERE i.listing_id = $1 ORDER BY i.registered_at, i.id",
                                                      listing_id)
        return rows

    @staticmethod
    async def _eligible(conn: Conn, listing: Listing) -> list[int]:
        return await repo.buyers(conn, listing.id, listing.deposit)
