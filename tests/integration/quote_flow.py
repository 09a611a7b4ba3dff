"""Builders for the quote tests: a listing sold by a one-time sealed or weighted quote, brought to
competition with its buyers' deposits held, a round opened, quotes submitted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exchange.accounts.types import Account, Registration
from exchange.achievements.types import AchievementInput
from exchange.clock import FixedClock
from exchange.listings.procedure_types import IntentDecision, IntentInput
from exchange.listings.types import ListingInput, Review
from exchange.quotes.types import QuoteInput, RoundInput
from exchange.services import Services
from exchange.settlement.types import BankTransfer

PASSWORD = "correct horse battery"
LISTING_PRICE = 120_000_00
DEPOSIT = 12_000_00
NAMES = ["启明创新 Qiming Innovation", "华科技术 Huake Tech", "东方材料 Oriental Materials", "西部能源 Western Energy"]


@dataclass
class QuoteParties:
    operator: Account
    seller: Account
    buyers: list[Account]  # qualified, deposit held
    outsider: Account  # an investor who is not one of the listing's buyers
    listing_id: int


async def _account(services: Services, role: str, email: str, name: str) -> Account:
    return await services.accounts.register(
        Registration(role=role, email=email, password=PASSWORD, display_name=name), allow_operator=role == "operator")


async def quote_listing(services: Services, clock: FixedClock, method: str = "sealed_quote", buyers: int = 3,
                        price_weight_bp: int = 6_000, unpaid: int = 0) -> QuoteParties:
    """A listing in competition, sold by `method`; `buyers` qualified buyers with their deposits
    held, and `unpaid` more qualified buyers whose deposit is still due."""
    operator = await _account(services, "operator", "op@exchange.test", "Operator")
    seller = await _account(services, "institution", "tto@north.test", "北方大学 North University")
    found = [await _account(services, "investor", f"buyer{i}@firm.test", NAMES[i]) for i in range(buyers + unpaid)]
    outsider = await _account(services, "investor", "outsider@firm.test", "局外资本 Outside Capital")
    achievement = await services.achievements.record(seller, AchievementInput(
        title="一种锂电池正极材料的制备方法", summary="单晶高镍正极，循环寿命提升 30%。", field="new_energy",
        kind="patent", funding_source="public", maturity="pilot", programme="国家重点研发计划",
        title_en="Preparation of a cathode material"))
    listing = await services.listings.submit(seller, ListingInput(
        achievement_id=achievement.id, listing_price=LISTING_PRICE, terms="合同签订后 10 个工作日内付清。",
        bidder_conditions="依法设立的企业法人。", deposit=DEPOSIT, competitive_method=method,
        price_weight_bp=price_weight_bp))
    await services.listings.review(operator, listing.id, Review(decision="approve"))
    await bring_to_competition(services, clock, operator, listing.id, found, buyers)
    return QuoteParties(operator, seller, found[:buyers], outsider, listing.id)


async def bring_to_competition(services: Services, clock: FixedClock, operator: Account, listing_id: int,
                               investors: list[Account], paid: int) -> None:
    """The listing procedure: every investor registers intent during the announcement, the period
    ends, the operator qualifies each, the first `paid` pay their deposit by bank transfer; the
    others' deposits lapse; the outcome rule puts the listing in competition."""
    for investor in investors:
        await services.procedure.register_intent(investor, listing_id, IntentInput(statement="符合全部条件"))
    view = await services.procedure.procedure(operator, listing_id)
    clock.set(datetime.fromisoformat(view["announcement_end"]) + timedelta(minutes=1))
    await services.procedure.sweep()
    for intent in (await services.procedure.procedure(operator, listing_id))["intents"]:
        await services.procedure.decide(operator, listing_id, intent["id"], IntentDecision(decision="qualify"))
    intents = {i["investor_id"]: i for i in (await services.procedure.procedure(operator, listing_id))["intents"]}
    for investor in investors[:paid]:
        deposit = intents[investor.id]["deposit"]
        await services.settlement.confirm_bank_transfer(operator, BankTransfer(
            reference_code=deposit["reference_code"], amount=deposit["amount"],
            statement_ref=f"STMT-{deposit['reference_code']}"))
    if paid < len(investors):  # the unpaid deposits' 3 working days run out
        clock.set(max(datetime.fromisoformat(i["deposit"]["due_at"]) for i in intents.values()) + timedelta(minutes=1))
        await services.settlement.sweep()
    await services.procedure.sweep()
    assert (await services.procedure.procedure(operator, listing_id))["status"] == "competition"


def deadline(services: Services, clock: FixedClock, extra: timedelta = timedelta(hours=1)) -> datetime:
    """A deadline just past the minimum of 3 working days."""
    return services.calendar.period_end(clock.now(), services.quotes.rules.min_wd) + extra


async def open_round(services: Services, clock: FixedClock, parties: QuoteParties) -> dict[str, Any]:
    return await services.quotes.open_round(parties.operator, parties.listing_id,
                                            RoundInput(deadline=deadline(services, clock)))


async def quote(services: Services, parties: QuoteParties, buyer: Account, price: int, plan: str = "") -> dict[str, Any]:
    return await services.quotes.submit(buyer, parties.listing_id, QuoteInput(price=price, plan=plan))


async def past_deadline(services: Services, clock: FixedClock, parties: QuoteParties) -> dict[str, int]:
    """The clock moves past the deadline and the sweep opens the round."""
    view = await services.quotes.round(None, parties.listing_id)
    clock.set(datetime.fromisoformat(view["round"]["deadline"]) + timedelta(seconds=1))
    return await services.quotes.sweep()
