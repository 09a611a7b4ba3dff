"""Deposits (保证金) from qualification to release, card payments, and the settlement sweep.

Each step is one database transaction holding both the state change and its ledger
transfers. Steps that reach outside the database (admitting a bidder to a live book, a
card capture or cancellation) happen after the commit and are retried by `sweep` until
done, so a crash between steps leaves a state that the next pass completes.
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
from exchange.auctions.service import AuctionService
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.infra.sweeper import Sweeper
from exchange.ledger import ledger
from exchange.listings import procedure_rules
from exchange.listings import repository as listings
from exchange.settlement import moves
from exchange.settlement import repository as repo
from exchange.settlement.cards import CardGateway, IntentState
from exchange.settlement.trades import TradeService
from exchange.settlement.types import BankTransfer, CardReturn, Sale, SettlementRules
from exchange.settlement.views import deposit_view, payment_view, payout_view, transfer_view

log = logging.getLogger(__name__)

SWEEP_S = 5.0


class SettlementService:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar, auctions: AuctionService,
        trades: TradeService, rules: SettlementRules | None = None, cards: CardGateway | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self._auctions = auctions
        self._trades = trades
        self.rules = rules or SettlementRules()
        self.cards = cards
        auctions.on_closed.append(self.settle_auction)
        self._sweeper = Sweeper("settlement sweep", self.sweep, clock, lambda: SWEEP_S)

    def start(self) -> None:
        """Sweeps at once (deadlines that passed while the exchange was down), then every 5 s."""
        self._sweeper.start()

    async def stop(self) -> None:
        await self._sweeper.stop()

    # -- qualification and deposits -----------------------------------------------------

    async def qualify(self, operator: Account | None, auction_id: int, investor_id: int) -> dict[str, Any]:
        """资格审核: the operator qualifies an investor. With a deposit on the listing the investor
        is admitted once it is held; without one, at once."""
        staff = require_role(operator, Role.OPERATOR)
        auction = await self._auctions.get(auction_id)
        if auction["status"] == "closed":
            raise Conflict("this auction has closed")
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            investor = await accounts.account_by_id(conn, investor_id)
            if investor is None:
                raise NotFound("no such account")
            if investor.role != Role.INVESTOR:
                raise ValidationFailed("only investors can bid", field_errors={"investor_id": "is not an investor account"})
            listing = await listings.get(conn, auction["listing_id"])
            assert listing is not None
            if investor.id == listing.seller_id:
                raise Conflict("the seller can never bid on its own lot")
            problem = await procedure_rules.buyer_problem(conn, listing.id, investor.id)
            if problem is not None:
                raise Conflict(f"the investor is not qualified: {problem}")
            if listing.outcome_at is not None:  # a buyer of the listing's procedure: its deposit secures the auction
                await self.move_deposits_to_auction(conn, listing.id, auction_id)
            deposit_id = None
            if listing.deposit > 0:
                deposit_id = await repo.insert_deposit(conn, {
                    "auction_id": auction_id, "listing_id": listing.id, "investor_id": investor.id,
                    "amount": listing.deposit,
                    "currency": listing.currency, "reference_code": await repo.next_reference(conn, "D", now),
                    "due_at": self._calendar.period_end(now, self.rules.deposit_wd),
                    "qualified_by": staff.id, "created_at": now,
                })
            deposit = await repo.deposit_of(conn, auction_id, investor.id)
        if deposit is None:
            admitted = await self._auctions.approve_bidder(staff, auction_id, investor.id)
            return {"auction_id": auction_id, "account_id": investor.id, "code": admitted["code"], "deposit": None}
        code = None
        if deposit["status"] == "held":
            code = (await self._auctions.approve_bidder(staff, auction_id, investor.id))["code"]
        elif deposit_id is None and deposit["status"] != "due":
            raise Conflict(f"this investor's deposit is {deposit['status']}")
        return {"auction_id": auction_id, "account_id": investor.id, "code": code, "deposit": deposit_view(deposit)}

    async def confirm_bank_transfer(self, operator: Account | None, line: BankTransfer) -> dict[str, Any]:
        """An operator matches a bank statement line to a deposit (D…) or a trade's balance (T…)."""
        staff = require_role(operator, Role.OPERATOR)
        reference, paid, statement_ref = line.checked()
        if reference.startswith("T"):
            return await self._trades.balance_by_bank(staff, reference, paid, statement_ref)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            deposit = await repo.deposit_by(conn, "reference_code", reference, for_update=True)
            if deposit is None:
                raise NotFound(f"no deposit or trade has the reference code {reference}")
            if deposit["status"] != "due":
                raise Conflict(f"deposit {reference} is already {deposit['status']}; nothing was recorded")
            if now > deposit["due_at"]:
                raise Conflict(f"deposit {reference} was due by {deposit['due_at'].isoformat()}; "
                               "the transfer must be returned to the payer")
            if paid != deposit["amount"]:
                raise Conflict(f"deposit {reference} is {deposit['amount']} minor units, the transfer is {paid}; "
                               "nothing was recorded")
            await moves.receive(conn, provider="offline", external_ref=statement_ref, purpose="deposit",
                                payer_id=deposit["investor_id"], amount=paid, currency=deposit["currency"].strip(),
                                now=now, deposit_id=deposit["id"], confirmed_by=staff.id)
            await moves.hold_deposit(conn, deposit, now)
            await repo.set_deposit(conn, deposit["id"], status="held", provider="offline", held_at=now)
            held = await repo.deposit(conn, deposit["id"])
        assert held is not None
        await self._admit(held)
        return {"deposit": deposit_view(held), "trade": None}

    async def _admit(self, deposit: asyncpg.Record) -> None:
        """Admits the depositor to the live book; a failure is retried by `sweep`. A deposit of a
        listing still in its procedure (no auction yet) admits nobody: the outcome rule counts it."""
        if deposit["auction_id"] is None:
            return
        try:
            async with self._pool.acquire() as conn:
                operator = await accounts.account_by_id(conn, deposit["qualified_by"])
            await self._auctions.approve_bidder(operator, deposit["auction_id"], deposit["investor_id"])
        except Conflict as exc:
            log.info("deposit %s held but not admitted: %s", deposit["reference_code"], exc.detail)
        except Exception:
            log.exception("admission after deposit %s failed; the sweep retries it", deposit["reference_code"])

    async def start_card_deposit(self, investor: Account | None, deposit_id: int, back: CardReturn) -> dict[str, Any]:
        payer = require_role(investor, Role.INVESTOR)
        cards = self._require_cards()
        async with self._pool.acquire() as conn:
            deposit = await repo.deposit(conn, deposit_id)
        if deposit is None or deposit["investor_id"] != payer.id:
            raise NotFound("no such deposit")
        if deposit["status"] != "due" or self._clock.now() > deposit["due_at"]:
            raise Conflict(f"deposit {deposit['reference_code']} cannot be paid now: it is {deposit['status']}")
        checkout = await cards.checkout(
            reference=deposit["reference_code"], purpose="deposit", amount=deposit["amount"],
            currency=deposit["currency"].strip(), manual_capture=True,
            description=f"Deposit {deposit['reference_code']} for {deposit['reference_no']}",
            customer_email=payer.email, success_url=back.success_url, cancel_url=back.cancel_url,
            idempotency_key=f"deposit-{deposit_id}-checkout-{int(self._clock.now().timestamp())}",
        )
        async with self._pool.acquire() as conn:
            await repo.set_deposit(conn, deposit_id, checkout_session=checkout.session_id)
        return {"checkout_url": checkout.url, "session_id": checkout.session_id}

    def _require_cards(self) -> CardGateway:
        if self.cards is None:
            raise Conflict("card payments are not enabled on this exchange; pay by bank transfer")
        return self.cards

    # -- card processor events ----------------------------------------------------------

    async def apply_card_event(self, payload: bytes, signature: str) -> dict[str, Any]:
        """A webhook: verified, then the PaymentIntent's current state is applied once."""
        cards = self._require_cards()
        event = cards.verify(payload, signature)
        state = None if event.payment_intent is None else await cards.intent(event.payment_intent)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            if not await repo.record_event(conn, event.id, event.type, now):
                return {"event": event.id, "applied": False}
            follow_up = None if state is None else await self._apply_intent(conn, state)
        if follow_up is not None:
            await follow_up()
        return {"event": event.id, "applied": True}

    async def _apply_intent(self, conn: Any, state: IntentState) -> Any:
        """Brings our records in line with the intent; returns an action to run after commit."""
        purpose, reference = state.metadata.get("purpose"), state.metadata.get("reference", "")
        if purpose == "balance":
            await self._trades.balance_by_card(conn, reference, state)
            return None
        if purpose != "deposit":
            return None
        deposit = await repo.deposit_by(conn, "reference_code", reference, for_update=True)
        if deposit is None:
            log.warning("card payment %s names an unknown deposit %r", state.id, reference)
            return None
        now = self._clock.now()
        fresh = deposit["status"] == "due" and now <= deposit["due_at"]
        if state.status == "requires_capture" and deposit["payment_intent"] == state.id:
            return None
        if state.status == "requires_capture" and fresh and state.amount_capturable == deposit["amount"] \
                and state.currency == deposit["currency"].strip():
            await moves.receive(conn, provider="stripe", external_ref=state.id, purpose="deposit",
                                payer_id=deposit["investor_id"], amount=deposit["amount"],
                                currency=deposit["currency"].strip(), now=now, deposit_id=deposit["id"])
            await moves.hold_deposit(conn, deposit, now)
            await repo.set_deposit(conn, deposit["id"], status="held", provider="stripe", held_at=now,
                                   payment_intent=state.id)
            held = await repo.deposit(conn, deposit["id"])
            assert held is not None
            return lambda: self._admit(held)
        if state.status == "requires_capture":
            cards = self._require_cards()
            log.info("cancelling card authorisation %s: deposit %s is %s", state.id, reference, deposit["status"])
            return lambda: cards.cancel(state.id, f"stray-{state.id}")
        return None

    # -- the close of an auction ---------------------------------------------------------

    async def settle_auction(self, auction_id: int) -> None:
        """At the close: the winner's deposit goes towards the price, every other is released."""
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            auction = await conn.fetchrow(
                "SELECT status, sold, winner_id, price FROM auctions WHERE id = $1 FOR UPDATE", auction_id)
            if auction is None or auction["status"] != "closed":
                return
            # a payment being applied to one of them finishes first, and its result is settled here
            await conn.execute("SELECT 1 FROM deposits WHERE auction_id = $1 ORDER BY id FOR UPDATE", auction_id)
            deposits = await repo.deposits_where(conn, "d.auction_id = $1", auction_id, limit=100_000)
            winner = auction["winner_id"] if auction["sold"] else None
            for deposit in deposits:
                if deposit["investor_id"] == winner:
                    continue
                if deposit["status"] == "held":
                    await moves.release_deposit(conn, deposit, now)
                elif deposit["status"] == "due":
                    await repo.set_deposit(conn, deposit["id"], status="lapsed", resolved_at=now)
            if winner is not None:
                own = next((d for d in deposits if d["investor_id"] == winner), None)
                await self._trades.open_trade(conn, auction_id, 1, winner, auction["price"], own, now)
            await disclosure.publish(conn, await disclosure.auction_failed(conn, auction_id, now, self._calendar))
        await self._card_actions(auction_id)

    # -- a listing's sale outside an auction -------------------------------------------------

    async def listing_deposit(
        self, conn: Conn, listing_id: int, investor_id: int, qualified_by: int, now: datetime,
    ) -> asyncpg.Record | None:
        """The deposit a qualified buyer owes on a listing, due within the deposit period (3 wd);
        None when the listing asks for none. Asking twice returns the first."""
        listing = await listings.get(conn, listing_id)
        assert listing is not None
        if listing.deposit == 0:
            return None
        await repo.insert_deposit(conn, {
            "listing_id": listing_id, "investor_id": investor_id, "amount": listing.deposit,
            "currency": listing.currency, "reference_code": await repo.next_reference(conn, "D", now),
            "due_at": self._calendar.period_end(now, self.rules.deposit_wd),
            "qualified_by": qualified_by, "created_at": now,
        })
        rows = await repo.deposits_where(
            conn, "d.listing_id = $1 AND d.investor_id = $2 AND d.auction_id IS NULL", listing_id, investor_id)
        return rows[0]

    async def listing_deposits(self, conn: Conn, listing_id: int) -> list[asyncpg.Record]:
        """The deposits of a listing in its procedure (not yet moved to an auction), oldest first."""
        rows = await repo.deposits_where(conn, "d.listing_id = $1 AND d.auction_id IS NULL", listing_id,
                                         limit=100_000)
        return rows[::-1]

    async def move_deposits_to_auction(self, conn: Conn, listing_id: int, auction_id: int) -> list[int]:
        """The listing's held deposits now secure its auction; the investors to admit to it."""
        rows = await conn.fetch(
            """UPDATE deposits SET auction_id = $2 WHERE listing_id = $1 AND auction_id IS NULL AND status = 'held'
               RETURNING investor_id""", listing_id, auction_id)
        return [row["investor_id"] for row in rows]

    async def close_listing_sale(
        self, conn: Conn, listing_id: int, sale: Sale | None, now: datetime, *, announce: bool = True,
    ) -> int | None:
        """The end of a listing's bidding outside an auction (its one buyer's agreement, a sealed or
        weighted quote): the buyer's deposit goes towards the price, every other deposit of the
        listing is released at once and unpaid ones lapse. The trade's id, if a sale opened one.
        The caller commits, then calls `card_actions`."""
        await conn.execute(
            "SELECT 1 FROM deposits WHERE listing_id = $1 AND auction_id IS NULL ORDER BY id FOR UPDATE", listing_id)
        deposits = await self.listing_deposits(conn, listing_id)
        buyer = None if sale is None else sale.buyer_id
        for deposit in deposits:
            if deposit["investor_id"] == buyer:
                continue
            if deposit["status"] == "held":
                await moves.release_deposit(conn, deposit, now)
            elif deposit["status"] == "due":
                await repo.set_deposit(conn, deposit["id"], status="lapsed", resolved_at=now)
        if sale is None:
            return None
        own = next((d for d in deposits if d["investor_id"] == buyer), None)
        return await self._trades.open_sale(conn, sale, own, now, announce=announce)

    async def card_actions(self) -> None:
        await self._card_actions()

    async def _card_actions(self, auction_id: int | None = None) -> None:
        """Captures or cancels card deposits decided at a close; retried until the processor agrees."""
        if self.cards is None:
            return
        async with self._pool.acquire() as conn:
            condition = "d.card_action IS NOT NULL" + ("" if auction_id is None else " AND d.auction_id = $1")
            pending = await repo.deposits_where(conn, condition, *([] if auction_id is None else [auction_id]))
        for deposit in pending:
            try:
                if deposit["card_action"] == "capture":
                    await self.cards.capture(deposit["payment_intent"], f"deposit-{deposit['id']}-capture")
                else:
                    await self.cards.cancel(deposit["payment_intent"], f"deposit-{deposit['id']}-cancel")
            except Exception:
                log.exception("card %s of deposit %s not done yet", deposit["card_action"], deposit["reference_code"])
                continue
            async with self._pool.acquire() as conn, conn.transaction():
                await repo.set_deposit(conn, deposit["id"], card_action=None)
                if deposit["card_action"] == "cancel":
                    await conn.execute(
                        """UPDATE payouts SET status = 'sent', sent_at = $2, external_ref = $3
                           WHERE deposit_id = $1 AND purpose = 'refund' AND provider = 'stripe' AND status = 'to_send'""",
                        deposit["id"], self._clock.now(), deposit["payment_intent"])

    # -- deadlines and repair ------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Applies every settlement deadline due now and completes steps a crash interrupted."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            lapsed = await conn.execute(
                "UPDATE deposits SET status = 'lapsed', resolved_at = $1 WHERE status = 'due' AND due_at < $1", now)
            unsettled = await repo.closed_without_trade(conn)
            unadmitted = await repo.deposits_where(
                conn, """d.status = 'held' AND a.status <> 'closed' AND NOT EXISTS (SELECT 1 FROM auction_bidders b
                         WHERE b.auction_id = d.auction_id AND b.account_id = d.investor_id)""")
        for auction_id in unsettled:
            await self.settle_auction(auction_id)
        for deposit in unadmitted:
            await self._admit(deposit)
        await self._card_actions()
        done = await self._trades.sweep()
        return {"lapsed": int(lapsed.split()[-1]), "settled": len(unsettled), "admitted": len(unadmitted)} | done

    # -- reading --------------------------------------------------------------------------

    async def deposits(
        self, viewer: Account | None, *, status: str | None = None, auction_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """An investor's own deposits; an operator's view of every deposit (by status, by auction)."""
        who = require_role(viewer, Role.INVESTOR, Role.OPERATOR)
        async with self._pool.acquire() as conn:
            if who.role == Role.OPERATOR:
                rows = await repo.deposits_where(
                    conn, "($1::text IS NULL OR d.status = $1) AND ($2::bigint IS NULL OR d.auction_id = $2)",
                    status, auction_id, limit=200 if auction_id is None else 100_000)
            else:
                rows = await repo.deposits_where(conn, "d.investor_id = $1", who.id)
        return [deposit_view(row) for row in rows]

    async def deposit(self, viewer: Account | None, deposit_id: int) -> dict[str, Any]:
        """One deposit with its ledger lines: for its investor and operators only."""
        who = require_role(viewer, Role.INVESTOR, Role.OPERATOR)
        async with self._pool.acquire() as conn:
            row = await repo.deposit(conn, deposit_id)
            if row is None or (who.role != Role.OPERATOR and row["investor_id"] != who.id):
                raise NotFound("no such deposit")
            lines = await ledger.transfers_of(conn, deposit_id=deposit_id)
            payouts = await repo.payouts_where(conn, "p.deposit_id = $1", deposit_id)
        return deposit_view(row) | {"ledger": [transfer_view(t) for t in lines],
                                    "payouts": [payout_view(p) for p in payouts]}

    async def payments(self, viewer: Account | None) -> list[dict[str, Any]]:
        who = require_role(viewer, Role.INVESTOR)
        async with self._pool.acquire() as conn:
            rows = await repo.payments_of(conn, who.id)
        return [payment_view(row) for row in rows]

    async def payouts(self, viewer: Account | None, *, status: str | None = None) -> list[dict[str, Any]]:
        """A party's own payouts (proceeds, refunds); operators see all, e.g. those to send."""
        if viewer is None:
            raise NotAuthenticated("log in first")
        async with self._pool.acquire() as conn:
            if viewer.role == Role.OPERATOR:
                rows = await repo.payouts_where(conn, "($1::text IS NULL OR p.status = $1)", status)
            else:
                rows = await repo.payouts_where(conn, "p.payee_id = $1", viewer.id)
        return [payout_view(row) for row in rows]

    async def ledger_lines(self, viewer: Account | None) -> list[dict[str, Any]]:
        """Every ledger line touching one of the viewer's own accounts."""
        if viewer is None:
            raise NotAuthenticated("log in first")
        async with self._pool.acquire() as conn:
            lines = await ledger.transfers_of(conn, owner_id=viewer.id)
        return [transfer_view(t) for t in lines]
