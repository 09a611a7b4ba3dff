"""A sale from the close to the release of the price (成交 → 交割 → 结算), and its certificate.

The winner confirms the contract within 3 working days and pays the balance within 5;
otherwise the deposit is forfeited and the operator offers the lot to the next bidder or
relists it. The seller records delivery; the buyer accepts it or lets the objection window
lapse; then the price less commission is released and the transaction certificate issued.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.calendar import WorkingDayCalendar
from exchange.clock import Clock
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.ledger import ledger
from exchange.settlement import moves
from exchange.settlement import repository as repo
from exchange.settlement.cards import CardGateway, IntentState
from exchange.settlement.types import (
    CardReturn,
    Delivery,
    ForfeitDecision,
    NextStep,
    Objection,
    PayoutAccount,
    PayoutSent,
    Ruling,
    Sale,
    SettlementRules,
    TradeMethod,
    TradeStatus,
    commission,
)
from exchange.settlement.views import payout_view, trade_view, transfer_view
from exchange.validation import FieldErrors, choice, text

log = logging.getLogger(__name__)


OVERPAID = "overpaid:stripe:"


def overpayment_refund(intent_id: str) -> str:
    """The ledger transfer (and payout) refunding a card payment nothing was due for."""
    return f"{OVERPAID}{intent_id}:refund"


class TradeService:
    def __init__(
        self, pool: asyncpg.Pool, clock: Clock, calendar: WorkingDayCalendar,
        rules: SettlementRules | None = None, cards: CardGateway | None = None,
    ) -> None:
        self._pool = pool
        self._clock = clock
        self._calendar = calendar
        self.rules = rules or SettlementRules()
        self.cards = cards

    # -- opening -----------------------------------------------------------------------

    async def open_trade(
        self, conn: Conn, auction_id: int, round_: int, buyer_id: int, price: int,
        deposit: asyncpg.Record | None, now: datetime,
    ) -> int | None:
        """The trade of an auction's sale; None if it was opened before (a repeated close is a no-op)."""
        listing_id: int = await conn.fetchval("SELECT listing_id FROM auctions WHERE id = $1", auction_id)
        sale = Sale(TradeMethod.ENGLISH_AUCTION, buyer_id, price, listing_id=listing_id,
                    auction_id=auction_id, round=round_)
        return await self.open_sale(conn, sale, deposit, now)

    async def open_sale(
        self, conn: Conn, sale: Sale, deposit: asyncpg.Record | None, now: datetime, *, announce: bool = True,
    ) -> int | None:
        """The trade of any sale: an auction, a listing's one buyer, a quote, an agreement notice.
        None if it was opened before. A held `deposit` goes towards the price. `announce` False:
        a trade opened only to forfeit it at once (a sole buyer who let its agreement lapse) is
        not a deal and publishes no deal announcement."""
        if sale.agreement_id is not None:
            lot = await conn.fetchrow(
                "SELECT seller_id, currency, achievement_id FROM agreements WHERE id = $1", sale.agreement_id)
        else:
            lot = await conn.fetchrow(
                "SELECT seller_id, currency, achievement_id FROM listings WHERE id = $1", sale.listing_id)
        assert lot is not None
        rules = self.rules
        trade_id = await repo.insert_trade(conn, {
            "auction_id": sale.auction_id, "round": sale.round, "listing_id": sale.listing_id,
            "agreement_id": sale.agreement_id, "achievement_id": lot["achievement_id"],
            "method": sale.method.value, "seller_id": lot["seller_id"], "buyer_id": sale.buyer_id,
            "price": sale.price, "currency": lot["currency"].strip(),
            "deposit_id": None if deposit is None else deposit["id"], "deposit_applied": 0,
            "buyer_fee": commission(sale.price, rules.buyer_scale, rules.minimum_fee),
            "seller_fee": commission(sale.price, rules.seller_scale, rules.minimum_fee),
            "reference_code": await repo.next_reference(conn, "T", now), "created_at": now,
            "contract_due": self._calendar.period_end(now, rules.contract_wd),
            "balance_due": self._calendar.period_end(now, rules.balance_wd),
        })
        if trade_id is None:
            return None
        if deposit is not None and deposit["status"] == "held":
            applied = await moves.apply_deposit(conn, deposit, trade_id, sale.price, now)
            await repo.set_trade(conn, trade_id, deposit_applied=applied)
        if announce:
            await disclosure.publish(conn, await disclosure.deal_announcement(conn, trade_id, now, self._calendar))
        return trade_id

    # -- the buyer ------------------------------------------------------------------------

    async def _own(self, conn: Conn, party: Account, trade_id: int, *, as_: str) -> asyncpg.Record:
        trade = await repo.trade(conn, trade_id, for_update=True)
        if trade is None or (party.role != Role.OPERATOR and trade[f"{as_}_id"] != party.id):
            raise NotFound("no such trade")
        return trade

    @staticmethod
    def _expect(trade: asyncpg.Record, *statuses: TradeStatus) -> None:
        if trade["status"] not in statuses:
            raise Conflict(f"trade {trade['reference_code']} is {trade['status'].replace('_', ' ')}")

    async def confirm_contract(self, buyer: Account | None, trade_id: int) -> dict[str, Any]:
        party = require_role(buyer, Role.INVESTOR)
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, party, trade_id, as_="buyer")
            self._expect(trade, TradeStatus.AWAITING_CONTRACT)
            if now > trade["contract_due"]:
                raise Conflict("the contract was due by " + trade["contract_due"].isoformat())
            await repo.set_trade(conn, trade_id, status=TradeStatus.AWAITING_BALANCE.value, contract_confirmed_at=now)
            return trade_view(await self._get(conn, trade_id))

    async def balance_by_bank(self, staff: Account, reference: str, paid: int, statement_ref: str) -> dict[str, Any]:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await repo.trade_by_reference(conn, reference, for_update=True)
            if trade is None:
                raise NotFound(f"no deposit or trade has the reference code {reference}")
            self._expect(trade, TradeStatus.AWAITING_BALANCE)
            if now > trade["balance_due"]:
                raise Conflict(f"the balance of {reference} was due by {trade['balance_due'].isoformat()}; "
                               "the transfer must be returned to the payer")
            if paid != moves.balance_due(trade):
                raise Conflict(f"the balance of {reference} is {moves.balance_due(trade)} minor units, "
                               f"the transfer is {paid}; nothing was recorded")
            await self._pay_balance(conn, trade, "offline", statement_ref, now, staff.id)
            return {"deposit": None, "trade": trade_view(await self._get(conn, trade["id"]))}

    async def balance_by_card(self, conn: Conn, reference: str, state: IntentState) -> None:
        """A captured card payment of a trade's balance enters the ledger, always, once: as the
        balance when the trade awaits exactly it, otherwise (paid twice, paid after a default) as
        an overpayment refunded to the card it came from."""
        if state.status != "succeeded" or state.amount_received <= 0:
            return
        now = self._clock.now()
        await repo.record_card_payment(conn, state, "balance", reference, now)
        if await repo.payment_recorded(conn, "stripe", state.id):
            return  # another event of the same payment
        trade = await repo.trade_by_reference(conn, reference, for_update=True)
        if trade is None:
            log.error("card payment %s names no trade (%r): `exchange ledger check` lists it", state.id, reference)
            return
        if trade["status"] == TradeStatus.AWAITING_BALANCE and state.amount_received == moves.balance_due(trade):
            await self._pay_balance(conn, trade, "stripe", state.id, now, None)
            return
        log.warning("card payment %s for trade %s came when the trade is %s: refunded", state.id, reference,
                    trade["status"])
        currency = trade["currency"].strip()
        await moves.receive(conn, provider="stripe", external_ref=state.id, purpose="overpayment",
                            payer_id=trade["buyer_id"], amount=state.amount_received, currency=currency, now=now,
                            trade_id=trade["id"])
        await moves.pay_out(conn, payee=ledger.investor(trade["buyer_id"], currency), payee_id=trade["buyer_id"],
                            purpose="refund", amount=state.amount_received, provider="stripe",
                            transfer_id=overpayment_refund(state.id), now=now, trade_id=trade["id"])

    async def _pay_balance(self, conn: Conn, trade: asyncpg.Record, provider: str, ref: str,
                           now: datetime, staff_id: int | None) -> None:
        await moves.receive(conn, provider=provider, external_ref=ref, purpose="balance", payer_id=trade["buyer_id"],
                            amount=moves.balance_due(trade), currency=trade["currency"].strip(), now=now,
                            trade_id=trade["id"], confirmed_by=staff_id)
        await moves.pay_balance(conn, trade, now)
        await repo.set_trade(conn, trade["id"], status=TradeStatus.AWAITING_DELIVERY.value, balance_paid_at=now)

    async def start_card_balance(self, buyer: Account | None, trade_id: int, back: CardReturn) -> dict[str, Any]:
        party = require_role(buyer, Role.INVESTOR)
        if self.cards is None:
            raise Conflict("card payments are not enabled on this exchange; pay by bank transfer")
        async with self._pool.acquire() as conn:
            trade = await self._own(conn, party, trade_id, as_="buyer")
        self._expect(trade, TradeStatus.AWAITING_BALANCE)
        checkout = await self.cards.checkout(
            reference=trade["reference_code"], purpose="balance", amount=moves.balance_due(trade),
            currency=trade["currency"].strip(), manual_capture=False,
            description=f"Balance of {trade['reference_code']} for {trade['reference_no']}",
            customer_email=party.email, success_url=back.success_url, cancel_url=back.cancel_url,
            idempotency_key=f"trade-{trade_id}-checkout-{int(self._clock.now().timestamp())}",
        )
        return {"checkout_url": checkout.url, "session_id": checkout.session_id}

    async def accept_delivery(self, buyer: Account | None, trade_id: int) -> dict[str, Any]:
        party = require_role(buyer, Role.INVESTOR)
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, party, trade_id, as_="buyer")
            self._expect(trade, TradeStatus.DELIVERED)
            await self._release(conn, trade, accepted=True)
            return trade_view(await self._get(conn, trade_id))

    async def object_to_delivery(self, buyer: Account | None, trade_id: int, objection: Objection) -> dict[str, Any]:
        """Within the objection window the buyer may object; the release waits for the operator."""
        party = require_role(buyer, Role.INVESTOR)
        errors = FieldErrors()
        reason = text(errors, "reason", objection.reason, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, party, trade_id, as_="buyer")
            self._expect(trade, TradeStatus.DELIVERED)
            if trade["objected_at"] is not None:
                raise Conflict("you have already objected; the operator is arbitrating")
            if now > trade["objection_due"]:
                raise Conflict("the objection window closed on " + trade["objection_due"].isoformat())
            await repo.set_trade(conn, trade_id, objection=reason, objected_at=now)
            return trade_view(await self._get(conn, trade_id))

    async def rule_on_objection(self, operator: Account | None, trade_id: int, ruling: Ruling) -> dict[str, Any]:
        """The operator's arbitration: release the price to the seller, or rescind and refund the buyer."""
        staff = require_role(operator, Role.OPERATOR)
        errors = FieldErrors()
        outcome = choice(errors, "outcome", ruling.outcome, ["release", "rescind"])
        reasons = text(errors, "reasons", ruling.reasons, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, staff, trade_id, as_="buyer")
            self._expect(trade, TradeStatus.DELIVERED)
            if trade["objected_at"] is None:
                raise Conflict("the buyer has not objected to this delivery")
            await repo.set_trade(conn, trade_id, objection_outcome=outcome, objection_ruling=reasons, ruled_by=staff.id)
            if outcome == "release":
                await self._release(conn, trade, accepted=False)
            else:
                providers = await self._providers(conn, trade)
                await moves.rescind(conn, trade, providers["deposit"], providers["balance"], now)
                await repo.set_trade(conn, trade_id, status=TradeStatus.RESCINDED.value)
            await disclosure.publish(conn, await disclosure.objection_outcome(conn, trade_id, now))
            return trade_view(await self._get(conn, trade_id))

    @staticmethod
    async def _providers(conn: Conn, trade: asyncpg.Record) -> dict[str, str]:
        """How the trade's deposit and balance reached the exchange: 'offline' (bank) or 'stripe'."""
        row = await conn.fetchrow(
            """SELECT coalesce((SELECT provider FROM deposits WHERE id = $2), 'offline') AS deposit,
                      coalesce((SELECT provider FROM payments WHERE trade_id = $1 AND purpose = 'balance'),
                               'offline') AS balance""", trade["id"], trade["deposit_id"])
        assert row is not None
        return {"deposit": row["deposit"], "balance": row["balance"]}

    # -- the seller -----------------------------------------------------------------------

    async def record_delivery(self, seller: Account | None, trade_id: int, delivery: Delivery) -> dict[str, Any]:
        """交割: e.g. the patent assignment registered; the buyer's objection window starts."""
        party = require_role(seller, Role.INSTITUTION)
        errors = FieldErrors()
        note = text(errors, "note", delivery.note, max_len=2000, multiline=True)
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, party, trade_id, as_="seller")
            self._expect(trade, TradeStatus.AWAITING_DELIVERY)
            await repo.set_trade(conn, trade_id, status=TradeStatus.DELIVERED.value, delivered_at=now,
                                 delivery_note=note,
                                 objection_due=self._calendar.period_end(now, self.rules.objection_wd))
            return trade_view(await self._get(conn, trade_id))

    # -- release and certificate ------------------------------------------------------------

    async def _release(self, conn: Conn, trade: asyncpg.Record, *, accepted: bool) -> None:
        now = self._clock.now()
        providers = await self._providers(conn, trade)
        sources = {providers["deposit"]: trade["deposit_applied"]}
        sources[providers["balance"]] = sources.get(providers["balance"], 0) + moves.balance_due(trade)
        await moves.release_price(conn, trade, sources, now)
        await repo.set_trade(conn, trade["id"], status=TradeStatus.RELEASED.value, released_at=now,
                             accepted_at=now if accepted else None)
        await self._certify(conn, trade["id"], now)

    async def _certify(self, conn: Conn, trade_id: int, now: datetime) -> None:
        """交易凭证: the fields DOMAIN.md lists, with a digest anyone can recompute."""
        trade = await self._get(conn, trade_id)
        if trade["agreement_id"] is not None:
            listing = await conn.fetchrow(
                "SELECT notice_start AS announcement_start, transfer_mode FROM agreements WHERE id = $1",
                trade["agreement_id"])
        else:
            listing = await conn.fetchrow(
                "SELECT announcement_start, transfer_mode FROM listings WHERE id = $1", trade["listing_id"])
        assert listing is not None
        closed_at = trade["created_at"]
        if trade["auction_id"] is not None:
            closed_at = await conn.fetchval("SELECT closed_at FROM auctions WHERE id = $1", trade["auction_id"])
        seq: int = await conn.fetchval("SELECT nextval('certificate_no_seq')")
        number = f"TC{now.year}{seq:06d}"
        body = {
            "certificate_no": number, "project_no": trade["reference_no"], "trade_reference": trade["reference_code"],
            "dates": {"announced": listing["announcement_start"].isoformat(), "deal": closed_at.isoformat(),
                      "paid": trade["balance_paid_at"].isoformat(), "released": now.isoformat()},
            "parties": {"seller": trade["seller_name"], "buyer": trade["buyer_name"]},
            "item": {"title": trade["title"], "title_en": trade["title_en"], "transfer_mode": listing["transfer_mode"]},
            "method": trade["method"], "appraisal": trade["appraised_value"],
            "price": trade["price"], "currency": trade["currency"].strip(),
            "payment": {"deposit_applied": trade["deposit_applied"], "balance": moves.balance_due(trade),
                        "buyer_commission": trade["buyer_fee"], "seller_commission": trade["seller_fee"]},
        }
        digest = certificate_digest(body)
        await repo.insert_certificate(conn, number, trade_id, now, body, digest)
        await disclosure.publish(conn, disclosure.transaction_certificate(number, body, digest, now))

    async def certificate(self, number: str) -> dict[str, Any]:
        """Public: anyone holding the number can read and check the certificate."""
        async with self._pool.acquire() as conn:
            row = await repo.certificate(conn, number.strip().upper()[:40])
        if row is None:
            raise NotFound("no transaction certificate has this number")
        body: dict[str, Any] = row["body"]
        return {"number": row["number"], "issued_at": row["issued_at"].isoformat(), "body": body,
                "digest": row["digest"], "digest_valid": certificate_digest(body) == row["digest"]}

    # -- deadlines --------------------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Forfeits overdue winners, releases deliveries whose objection window lapsed, and
        sends card payouts not yet sent."""
        now = self._clock.now()
        async with self._pool.acquire() as conn:
            overdue = await repo.trades_where(
                conn, "(t.status = 'awaiting_contract' AND t.contract_due < $1) OR "
                      "(t.status = 'awaiting_balance' AND t.balance_due < $1)", now)
            lapsed = await repo.trades_where(
                conn, "t.status = 'delivered' AND t.objection_due < $1 AND t.objected_at IS NULL", now)
        for trade in overdue:
            await self._forfeit(trade["id"])
        for trade in lapsed:
            async with self._pool.acquire() as conn, conn.transaction():
                locked = await repo.trade(conn, trade["id"], for_update=True)
                if (locked is not None and locked["status"] == TradeStatus.DELIVERED and locked["objection_due"] < now
                        and locked["objected_at"] is None):
                    await self._release(conn, locked, accepted=False)
        sent = await self._card_payouts()
        return {"forfeited": len(overdue), "released": len(lapsed), "card_payouts": sent}

    async def _forfeit(self, trade_id: int) -> None:
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await repo.trade(conn, trade_id, for_update=True)
            if trade is None or trade["status"] not in (TradeStatus.AWAITING_CONTRACT, TradeStatus.AWAITING_BALANCE):
                return
            reason = ("the contract was not confirmed in time" if trade["status"] == TradeStatus.AWAITING_CONTRACT
                      else "the balance was not paid in time")
            await self.forfeit(conn, trade, reason, now)

    async def forfeit(self, conn: Conn, trade: asyncpg.Record, reason: str, now: datetime) -> None:
        """The buyer defaulted: its deposit is split between the seller and the exchange, in the
        caller's transaction (also a listing's one buyer who let the agreement lapse)."""
        await moves.forfeit(conn, trade, self.rules.forfeit_seller_share_bp,
                            (await self._providers(conn, trade))["deposit"], now)
        await repo.set_trade(conn, trade["id"], status=TradeStatus.FORFEITED.value, forfeited_at=now,
                             forfeit_reason=reason)

    async def _card_payouts(self) -> int:
        if self.cards is None:
            return 0
        async with self._pool.acquire() as conn:
            waiting = await repo.payouts_where(conn, "p.provider = 'stripe' AND p.status = 'to_send' AND p.trade_id IS NOT NULL")
        sent = 0
        for payout in waiting:
            try:
                ref = await self._send_by_card(payout)
                if ref is None:
                    continue
            except Exception:
                log.exception("card payout %d not sent yet", payout["id"])
                continue
            async with self._pool.acquire() as conn:
                await conn.execute("UPDATE payouts SET status = 'sent', sent_at = $2, external_ref = $3 "
                                   "WHERE id = $1 AND status = 'to_send'", payout["id"], self._clock.now(), ref)
            sent += 1
        return sent

    async def _send_by_card(self, payout: asyncpg.Record) -> str | None:
        """A seller's proceeds by Connect transfer; a buyer's refund back onto the card it came from."""
        assert self.cards is not None
        async with self._pool.acquire() as conn:
            if payout["purpose"] == "refund":
                intent: str | None
                if payout["transfer_id"].startswith(OVERPAID):  # a payment nothing was due for, back in full
                    intent = payout["transfer_id"].removeprefix(OVERPAID).removesuffix(":refund")
                elif payout["deposit_id"] is not None:  # the part of a card deposit above the price
                    intent = await conn.fetchval(
                        "SELECT payment_intent FROM deposits WHERE id = $1", payout["deposit_id"])
                else:
                    query = ("SELECT d.payment_intent FROM trades t JOIN deposits d ON d.id = t.deposit_id "
                             "WHERE t.id = $1" if payout["transfer_id"].endswith("deposit") else
                             "SELECT external_ref FROM payments WHERE trade_id = $1 AND purpose = 'balance'")
                    intent = await conn.fetchval(query, payout["trade_id"])
                if intent is None:
                    return None
                return await self.cards.refund(intent, payout["amount"], f"payout-{payout['id']}")
            destination = await repo.payout_account(conn, payout["payee_id"])
        if destination is None:
            return None
        return await self.cards.transfer(destination, payout["amount"], payout["currency"].strip(),
                                         f"trade-{payout['trade_id']}", f"payout-{payout['id']}")

    # -- the operator -------------------------------------------------------------------------

    async def decide_after_forfeit(self, operator: Account | None, trade_id: int, decision: ForfeitDecision) -> dict[str, Any]:
        """Offer the lot to the next bidder at their last price, or relist it."""
        staff = require_role(operator, Role.OPERATOR)
        errors = FieldErrors()
        step = choice(errors, "next_step", decision.next_step, [s.value for s in NextStep])
        errors.raise_if_any()
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            trade = await self._own(conn, staff, trade_id, as_="buyer")
            self._expect(trade, TradeStatus.FORFEITED)
            if trade["next_step"] is not None:
                raise Conflict(f"the operator already decided: {trade['next_step'].replace('_', ' ')}")
            if step == NextStep.NEXT_BIDDER:
                runner = await repo.next_bidder(conn, trade)
                if runner is None:
                    raise Conflict("there is no next bidder for this lot; relist it")
                await self.open_sale(conn, Sale(
                    TradeMethod(trade["method"]), runner[0], runner[1], listing_id=trade["listing_id"],
                    auction_id=trade["auction_id"], round=trade["round"] + 1), None, now)
            await repo.set_trade(conn, trade_id, next_step=step, next_step_by=staff.id)
            return trade_view(await self._get(conn, trade_id))

    async def mark_payout_sent(self, operator: Account | None, payout_id: int, sent: PayoutSent) -> dict[str, Any]:
        staff = require_role(operator, Role.OPERATOR)
        errors = FieldErrors()
        bank_ref = text(errors, "bank_ref", sent.bank_ref, max_len=100)
        errors.raise_if_any()
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await repo.payouts_where(conn, "p.id = $1", payout_id)
            if not rows:
                raise NotFound("no such payout")
            if rows[0]["status"] != "to_send" or rows[0]["provider"] != "offline":
                raise Conflict("this payout is not waiting for a bank transfer")
            updated = await conn.execute(
                "UPDATE payouts SET status = 'sent', sent_at = $2, sent_by = $3, external_ref = $4 "
                "WHERE id = $1 AND status = 'to_send'", payout_id, self._clock.now(), staff.id, bank_ref)
            if updated.endswith(" 0"):
                raise Conflict("this payout was marked sent by someone else")
            return payout_view((await repo.payouts_where(conn, "p.id = $1", payout_id))[0])

    async def set_payout_account(self, operator: Account | None, account_id: int, target: PayoutAccount) -> dict[str, Any]:
        staff = require_role(operator, Role.OPERATOR)
        value = target.stripe_account.strip()
        if not value.startswith("acct_") or not value[5:].isalnum() or len(value) > 69:
            raise ValidationFailed("stripe_account: must look like acct_…", field_errors={"stripe_account": "must look like acct_…"})
        async with self._pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO payout_accounts (account_id, stripe_account, recorded_by, recorded_at)
                   VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE
                   SET stripe_account = $2, recorded_by = $3, recorded_at = $4""",
                account_id, value, staff.id, self._clock.now())
        return {"account_id": account_id, "stripe_account": value}

    # -- reading ---------------------------------------------------------------------------------

    async def _get(self, conn: Conn, trade_id: int) -> asyncpg.Record:
        trade = await repo.trade(conn, trade_id)
        assert trade is not None
        return trade

    async def trades(self, viewer: Account | None, *, status: str | None = None) -> list[dict[str, Any]]:
        """Buyers and sellers see their own trades; operators every trade (optionally by status)."""
        who = require_role(viewer, Role.INVESTOR, Role.INSTITUTION, Role.OPERATOR)
        async with self._pool.acquire() as conn:
            if who.role == Role.OPERATOR:
                rows = await repo.trades_where(conn, "($1::text IS NULL OR t.status = $1)", status)
            else:
                rows = await repo.trades_where(conn, "t.buyer_id = $1 OR t.seller_id = $1", who.id)
        return [trade_view(row) for row in rows]

    async def trade_of_auction(self, viewer: Account | None, auction_id: int) -> dict[str, Any] | None:
        """The viewer's own trade (as buyer or seller) from an auction, its latest round; None when
        there is none (not a party, not sold, or the settlement has not taken the close up yet)."""
        if viewer is None or viewer.role not in (Role.INVESTOR, Role.INSTITUTION):
            return None
        async with self._pool.acquire() as conn:
            rows = await repo.trades_where(conn, "t.auction_id = $1 AND (t.buyer_id = $2 OR t.seller_id = $2)",
                                           auction_id, viewer.id, limit=1)
        return trade_view(rows[0]) if rows else None

    async def trade(self, viewer: Account | None, trade_id: int) -> dict[str, Any]:
        who = require_role(viewer, Role.INVESTOR, Role.INSTITUTION, Role.OPERATOR)
        async with self._pool.acquire() as conn:
            row = await repo.trade(conn, trade_id)
            if row is None or (who.role != Role.OPERATOR and who.id not in (row["buyer_id"], row["seller_id"])):
                raise NotFound("no such trade")
            lines = await ledger.transfers_of(conn, trade_id=trade_id)
            payouts = await repo.payouts_where(conn, "p.trade_id = $1 AND ($2::bigint IS NULL OR p.payee_id = $2)",
                                               trade_id, None if who.role == Role.OPERATOR else who.id)
        if who.role != Role.OPERATOR:
            own = (f":{who.id}:",)
            lines = [t for t in lines if any(o in t.debit_account or o in t.credit_account for o in own)]
        return trade_view(row) | {"ledger": [transfer_view(t) for t in lines],
                                  "payouts": [payout_view(p) for p in payouts]}


def certificate_digest(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
