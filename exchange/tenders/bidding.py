"""Bid securities, sealed proposals and the opening at the deadline.

A proposal is admitted to the sealed book as its commitment only; its content is stored
encrypted to the tender's public key. At the deadline the book opens (or cancels the opening
when too few proposals arrived: a re-tender), the tender's private key is unwrapped and
each proposal is revealed to the book, which checks it against its commitment.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from exchange import disclosure
from exchange.accounts.service import require_role
from exchange.accounts.types import Account, Role
from exchange.errors import Conflict, NotFound, ValidationFailed
from exchange.infra.db import Conn
from exchange.ledger import ledger
from exchange.settlement import moves
from exchange.settlement import repository as settlement_repo
from exchange.settlement.types import BankTransfer
from exchange.tenders import book as sealed
from exchange.tenders import repository as repo
from exchange.tenders.context import TenderContext, locked_tender, party, securities_held
from exchange.tenders.sealing import commitment_of, documents_digest
from exchange.tenders.types import ProposalInput
from exchange.tenders.views import receipt_view, security_view
from exchange.validation import FieldErrors, amount, text
from matching_core.codes import Rejection
from matching_core.common import AdmitBidder, Tick
from matching_core.sealed_types import OpeningCancelled, RevealProposal, SubmitProposal

log = logging.getLogger(__name__)
MAX_TECHNICAL = 20_000


async def request_security(ctx: TenderContext, viewer: Account | None, tender_id: int) -> dict[str, Any]:
    """The bidder's bid security, with the reference code to quote on the bank transfer."""
    bidder = party(viewer)
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        _check_open(tender, bidder, now)
        if tender["security_amount"] == 0:
            raise Conflict("this tender asks no bid security: submit your proposal directly")
        await repo.insert_security(conn, {
            "tender_id": tender_id, "bidder_id": bidder.id, "amount": tender["security_amount"],
            "currency": tender["currency"].strip(), "created_at": now,
            "reference_code": await settlement_repo.next_reference(conn, "S", now),
        })
        rows = await repo.securities_where(conn, "s.tender_id = $1 AND s.bidder_id = $2", tender_id, bidder.id)
    return security_view(rows[0])


async def confirm_security(ctx: TenderContext, viewer: Account | None, line: BankTransfer) -> dict[str, Any]:
    """An operator matches a bank statement line to a security: received, then held in escrow."""
    staff = require_role(viewer, Role.OPERATOR)
    reference, paid, statement_ref = line.checked()
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        found = await repo.securities_where(conn, "s.reference_code = $1", reference, for_update=True)
        if not found:
            raise NotFound(f"no bid security has the reference code {reference}")
        security = found[0]
        if security["status"] != "due":
            raise Conflict(f"bid security {reference} is already {security['status']}; nothing was recorded")
        tender = await locked_tender(conn, security["tender_id"])
        if tender["status"] != "open" or now >= tender["deadline"]:
            raise Conflict(f"tender {tender['reference_no']} no longer takes securities; return the transfer")
        if paid != security["amount"]:
            raise Conflict(f"bid security {reference} is {security['amount']} minor units, the transfer is {paid}; "
                           "nothing was recorded")
        cur = security["currency"].strip()
        await moves.receive(conn, provider="offline", external_ref=statement_ref, purpose="deposit",
                            payer_id=security["bidder_id"], amount=paid, currency=cur, now=now,
                            confirmed_by=staff.id)
        await ledger.transfer(conn, f"security:{security['id']}:hold", ledger.investor(security["bidder_id"], cur),
                              securities_held(cur), paid, now, pending=True,
                              memo=f"bid security {reference} held")
        await repo.set_security(conn, security["id"], status="held", held_at=now)
        rows = await repo.securities_where(conn, "s.id = $1", security["id"])
    return security_view(rows[0])


async def refund_security(conn: Conn, security: asyncpg.Record, now: datetime) -> None:
    """The hold is voided and the security paid back by bank transfer."""
    sec_id, cur = security["id"], security["currency"].strip()
    await ledger.void(conn, f"security:{sec_id}:release", f"security:{sec_id}:hold", now,
                      memo=f"bid security {security['reference_code']} released")
    payout_id = await moves.pay_out(
        conn, payee=ledger.investor(security["bidder_id"], cur), payee_id=security["bidder_id"], purpose="refund",
        amount=security["amount"], provider="offline", transfer_id=f"security:{sec_id}:refund", now=now)
    await repo.set_security(conn, sec_id, status="refunded", refunded_at=now, payout_id=payout_id)


async def release_securities(conn: Conn, tender_id: int, now: datetime) -> int:
    """Every held security of the tender refunded, every unpaid one lapsed."""
    await conn.execute("UPDATE tender_securities SET status = 'lapsed' WHERE tender_id = $1 AND status = 'due'",
                       tender_id)
    held = await repo.securities_where(conn, "s.tender_id = $1 AND s.status = 'held'", tender_id, for_update=True)
    for security in held:
        await refund_security(conn, security, now)
    return len(held)


def _check_open(tender: asyncpg.Record, bidder: Account, now: datetime) -> None:
    if tender["owner_id"] == bidder.id:
        raise Conflict("a tender's owner cannot bid on its own tender")
    if tender["status"] != "open":
        raise Conflict(f"tender {tender['reference_no']} is {tender['status']}, not open for proposals")
    if now >= tender["deadline"]:
        raise Conflict(f"the deadline of tender {tender['reference_no']} passed at "
                       f"{tender['deadline'].isoformat()}; no proposal can be submitted")
    if now < tender["documents_issued_at"]:
        raise Conflict("proposals are taken once the tender documents are issued")


async def submit_proposal(ctx: TenderContext, viewer: Account | None, tender_id: int, data: ProposalInput,
                          idempotency_key: str) -> dict[str, Any]:
    """A sealed proposal; the answer is a receipt with its commitment, never its content."""
    bidder = party(viewer)
    errors = FieldErrors()
    price = amount(errors, "price", data.price)
    technical = text(errors, "technical", data.technical, max_len=MAX_TECHNICAL, multiline=True)
    key = idempotency_key.strip()
    if not 1 <= len(key) <= 100:
        errors.add("Idempotency-Key", "send 1 to 100 characters, the same when you retry")
    errors.raise_if_any()
    now = ctx.clock.now()
    mac = ctx.sealer.request_mac(tender_id, str(bidder.id), price, technical)
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        existing = await repo.proposal_of(conn, tender_id, bidder.id)
        if existing is not None:
            if existing["idempotency_key"] != key:
                raise Conflict("you already submitted a sealed proposal to this tender; one proposal per bidder "
                               f"(your receipt: {existing['commitment']})")
            if existing["request_mac"] != mac:
                raise Conflict("this Idempotency-Key was already used for a different proposal")
            book = await sealed.load(conn, tender, ctx.rules)
            return receipt_view(tender, existing, book.code_of(str(bidder.id)), True)
        _check_open(tender, bidder, now)
        if tender["security_amount"] > 0:
            held = await repo.securities_where(conn, "s.tender_id = $1 AND s.bidder_id = $2 AND s.status = 'held'",
                                               tender_id, bidder.id)
            if not held:
                raise Conflict("a bidder without a held bid security cannot submit: request the security, pay it "
                               "by bank transfer quoting its reference code, and wait for the exchange to confirm it")
        book = await sealed.load(conn, tender, ctx.rules)
        name = str(bidder.id)
        if book.code_of(name) is None:
            _accepted(await sealed.apply(conn, tender_id, book, AdmitBidder(name), now))
        content, ciphertext = ctx.sealer.seal(tender_id, tender["public_key"], name, price, technical)
        commitment = commitment_of(name, content)
        _accepted(await sealed.apply(conn, tender_id, book, SubmitProposal(name, commitment), now))
        await repo.insert_proposal(conn, {
            "tender_id": tender_id, "bidder_id": bidder.id, "commitment": commitment, "sealed": ciphertext,
            "idempotency_key": key, "request_mac": mac, "submitted_at": now,
        })
        stored = await repo.proposal_of(conn, tender_id, bidder.id)
    assert stored is not None
    log.info("sealed proposal received for tender %s", tender["reference_no"])
    return receipt_view(tender, stored, book.code_of(name), False)


def _accepted(result: object) -> None:
    if isinstance(result, Rejection):
        raise Conflict(f"the sealed book refused the proposal: {result.code.name.lower()}")


async def open_due(ctx: TenderContext, tender_id: int) -> str | None:
    """At the deadline: the public opening, or a re-tender with too few proposals. Returns the new status."""
    now = ctx.clock.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        tender = await locked_tender(conn, tender_id)
        if tender["status"] != "open" or now < tender["deadline"]:
            return None
        book = await sealed.load(conn, tender, ctx.rules)
        events = await sealed.apply(conn, tender_id, book, Tick(), now)
        if isinstance(events, Rejection):
            raise ValidationFailed(f"the sealed book refused the opening: {events.code.name}")
        if any(isinstance(e, OpeningCancelled) for e in events):
            await repo.set_tender(conn, tender_id, status="retender", opened_at=now)
            await release_securities(conn, tender_id, now)
            await disclosure.publish(conn, await disclosure.tender_opening(conn, tender_id, now))
            return "retender"
        private = ctx.sealer.open_key(tender_id, tender["wrapped_key"], tender["deadline"], now)
        for proposal in await repo.proposals(conn, tender_id):
            name = str(proposal["bidder_id"])
            content = ctx.sealer.unseal(tender_id, private, name, proposal["sealed"])
            reveal = RevealProposal(name, content.price, documents_digest(content.technical), content.nonce)
            result = await sealed.apply(conn, tender_id, book, reveal, now)
            if isinstance(result, Rejection):
                log.warning("proposal of bidder %s on %s not revealed: %s", name, tender["reference_no"],
                            result.code.name)
                continue
            await repo.reveal_proposal(conn, proposal["id"], content.price, content.technical, content.nonce, now)
        await repo.set_tender(conn, tender_id, status="opened", opened_at=now)
        await disclosure.publish(conn, await disclosure.tender_opening(conn, tender_id, now))
    return "opened"
