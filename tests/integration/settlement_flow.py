"""Builders for the settlement tests: an auction with deposits, run to its close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from exchange.clock import FixedClock
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from tests.integration.conftest_auctions import Parties, make_parties, spec

DEPOSIT = 12_000_00


@dataclass
class Sale:
    parties: Parties
    auction_id: int
    deposits: dict[int, dict[str, Any]]  # investor id -> deposit as qualify returned it


async def qualified_auction(services: Services, clock: FixedClock, investors: int = 3) -> Sale:
    """A scheduled auction with a deposit on the listing; every investor qualified, none paid."""
    parties = await make_parties(services, investors=investors, deposit=DEPOSIT)
    auction = await services.auctions.schedule(parties.operator, parties.listing_id, spec(clock.now()))
    deposits = {}
    for investor in parties.investors:
        answer = await services.settlement.qualify(parties.operator, auction["auction_id"], investor.id)
        deposits[investor.id] = answer["deposit"]
    return Sale(parties, auction["auction_id"], deposits)


async def pay_by_bank(services: Services, sale: Sale, investor_id: int, ref: str | None = None) -> dict[str, Any]:
    deposit = sale.deposits[investor_id]
    answer: dict[str, Any] = await services.settlement.confirm_bank_transfer(sale.parties.operator, BankTransfer(
        reference_code=deposit["reference_code"], amount=deposit["amount"],
        statement_ref=ref or f"STMT-{deposit['reference_code']}"))
    return answer


async def bid(services: Services, sale: Sale, investor_index: int, amount: int) -> dict[str, Any]:
    answer: dict[str, Any] = await services.auctions.submit_bid(
        sale.parties.investors[investor_index], sale.auction_id, "bid", amount)
    return answer


async def open_and_close(services: Services, clock: FixedClock, sale: Sale, bids: list[tuple[int, int]]) -> None:
    """Opens the auction, places `bids` (investor index, amount), then runs it to its close."""
    clock.advance(timedelta(minutes=1))
    await services.auctions.fire_due()
    for index, amount in bids:
        answer = await bid(services, sale, index, amount)
        assert answer["status"] == "accepted", answer
    clock.advance(timedelta(hours=2))
    assert await services.auctions.fire_due() == [sale.auction_id]
