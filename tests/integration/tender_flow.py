"""Builders for the tender tests: parties, an announced and published tender, securities, proposals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange.accounts.types import Account, Registration
from exchange.clock import FixedClock
from exchange.services import Services
from exchange.settlement.types import BankTransfer
from exchange.tenders.types import (
    ProposalInput,
    TenderDocument,
    TenderInput,
    TenderReview,
)

PASSWORD = "correct horse battery"
ESTIMATE = 1_000_000_00
SECURITY = 20_000_00  # 2% of the estimate, the most allowed


@dataclass
class TenderParties:
    operator: Account
    owner: Account
    bidders: list[Account]


async def _account(services: Services, role: str, email: str, name: str) -> Account:
    return await services.accounts.register(
        Registration(role=role, email=email, password=PASSWORD, display_name=name), allow_operator=role == "operator")


async def tender_parties(services: Services, bidders: int = 4) -> TenderParties:
    operator = await _account(services, "operator", "op@exchange.test", "Operator")
    owner = await _account(services, "institution", "tto@north.test", "北方大学 North University")
    names = ["启明创新 Qiming Innovation", "华科技术 Huake Tech", "东方材料 Oriental Materials",
             "西部能源 Western Energy", "南山研究院 Nanshan Institute"]
    found = [await _account(services, "investor", f"bidder{i}@firm.test", names[i]) for i in range(bidders)]
    return TenderParties(operator, owner, found)


def tender_input(now: datetime, **overrides: Any) -> TenderInput:
    values: dict[str, Any] = {
        "title": "固态电池电解质中试技术开发", "summary": "征集固态电解质中试工艺方案，含技术路线与报价。",
        "estimate": ESTIMATE, "security": SECURITY, "documents_issued_at": now,
        "deadline": now + timedelta(days=21), "evaluation": "price",
        "documents": [TenderDocument(title="招标文件", description="技术要求与评标办法")],
    }
    return TenderInput(**(values | overrides))


async def published_tender(services: Services, parties: TenderParties, clock: FixedClock, **overrides: Any) -> int:
    announced = await services.tenders.announce(parties.owner, tender_input(clock.now(), **overrides))
    await services.tenders.review(parties.operator, announced["id"], TenderReview(decision="approve"))
    tender_id: int = announced["id"]
    return tender_id


async def hold_security(services: Services, parties: TenderParties, tender_id: int, bidder: Account) -> dict[str, Any]:
    security = await services.tenders.request_security(bidder, tender_id)
    held: dict[str, Any] = await services.tenders.confirm_security(parties.operator, BankTransfer(
        reference_code=security["reference_code"], amount=security["amount"],
        statement_ref=f"STMT-{security['reference_code']}"))
    return held


async def propose(services: Services, parties: TenderParties, tender_id: int, bidder: Account, price: int,
                  technical: str = "技术方案：流延成型与热压烧结。") -> dict[str, Any]:
    """A held security, then a sealed proposal: the receipt."""
    await hold_security(services, parties, tender_id, bidder)
    receipt: dict[str, Any] = await services.tenders.submit_proposal(
        bidder, tender_id, ProposalInput(price=price, technical=technical), f"key-{bidder.id}")
    return receipt


async def past_deadline(services: Services, clock: FixedClock, tender_id: int) -> dict[str, int]:
    tender = await services.tenders.tender(None, tender_id)
    clock.set(datetime.fromisoformat(tender["deadline"]) + timedelta(seconds=1))
    return await services.tenders.sweep()
