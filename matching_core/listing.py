"""Listing outcome rules (挂牌): what happens when the announcement period (公告期) ends.

Pure functions of the qualified, deposited buyers and the listing's prices:
- 0 buyers: extend the period or relist; a relisting may go down to 90% of the appraisal
  (rounded up to a whole minor unit), lower only with operator approval;
- 1 buyer: an agreement deal (协议定价) at the listing price, once the buyer confirms a
  quote at or above it;
- 2 or more: competitive bidding by the method chosen at listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import msgspec

from matching_core.codes import RejectCode, Rejection, is_amount, is_id, reject

RELIST_FLOOR_BP = 9_000
"""A relisting may go down to this share (basis points) of the appraisal without approval."""


class CompetitiveMethod(IntEnum):
    ENGLISH_AUCTION = 1
    """拍卖 / 网络竞价, the default."""
    SEALED_QUOTE = 2
    """One-time sealed quote (一次性报价): the highest price wins."""
    WEIGHTED_QUOTE = 3
    """Weighted quote (综合评议): the highest score wins."""


class ListingOutcomeKind(IntEnum):
    EXTEND_OR_RELIST = 1
    AGREEMENT = 2
    COMPETITION = 3


class ListingPrices(msgspec.Struct, frozen=True):
    """`appraisal` None when the achievement was not appraised (资产评估)."""

    listing_price: int
    appraisal: int | None = None
    method: CompetitiveMethod = CompetitiveMethod.ENGLISH_AUCTION
    relist_floor_bp: int = RELIST_FLOOR_BP


class IntendedBuyer(msgspec.Struct, frozen=True):
    """An intended buyer (意向受让方) as the announcement period ends."""

    buyer: str
    qualified: bool
    deposited: bool


class ListingOutcome(msgspec.Struct, frozen=True):
    """`buyers`: the qualified, deposited ones in registration order.

    EXTEND_OR_RELIST: `relist_floor` is the lowest relisting price without approval (0 when
    there is no appraisal, so no floor); `needs_approval` tells whether the proposed
    relisting price is below it. AGREEMENT: `price` is the listing price and `buyers` holds
    the one buyer. COMPETITION: `method` is the method chosen at listing.
    """

    kind: ListingOutcomeKind
    buyers: list[str]
    price: int
    method: CompetitiveMethod | None
    relist_floor: int
    needs_approval: bool


def listing_prices_problem(prices: ListingPrices) -> RejectCode | None:
    if not is_amount(prices.listing_price):
        return RejectCode.INVALID_LISTING
    if prices.appraisal is not None:
        if not is_amount(prices.appraisal) or prices.listing_price < prices.appraisal:
            return RejectCode.INVALID_LISTING
    if not isinstance(prices.method, CompetitiveMethod):
        return RejectCode.INVALID_LISTING
    bp = prices.relist_floor_bp
    if type(bp) is not int or not 0 < bp <= 10_000:
        return RejectCode.INVALID_LISTING
    return None


def relist_floor(prices: ListingPrices) -> int:
    if prices.appraisal is None:
        return 0
    return -(-prices.appraisal * prices.relist_floor_bp // 10_000)


def decide_listing_outcome(
    prices: ListingPrices,
    buyers: Sequence[IntendedBuyer],
    relist_price: int | None = None,
) -> ListingOutcome | Rejection:
    """The outcome at the end of the announcement period; `relist_price` is the price the
    institution proposes for a relisting, if it already has one."""
    problem = listing_prices_problem(prices)
    if problem is not None:
        return reject(problem)
    if relist_price is not None and not is_amount(relist_price):
        return reject(RejectCode.INVALID_AMOUNT)
    if not isinstance(buyers, Sequence):
        return reject(RejectCode.INVALID_COMMAND)
    seen: set[str] = set()
    eligible: list[str] = []
    for entry in buyers:
        if not isinstance(entry, IntendedBuyer) or not is_id(entry.buyer):
            return reject(RejectCode.INVALID_BIDDER)
        if entry.buyer in seen:
            return reject(RejectCode.DUPLICATE_BIDDER)
        seen.add(entry.buyer)
        if entry.qualified is True and entry.deposited is True:
            eligible.append(entry.buyer)
    if not eligible:
        floor = relist_floor(prices)
        approval = relist_price is not None and relist_price < floor
        return ListingOutcome(ListingOutcomeKind.EXTEND_OR_RELIST, [], 0, None, floor, approval)
    if len(eligible) == 1:
        return ListingOutcome(
            ListingOutcomeKind.AGREEMENT, eligible, prices.listing_price, None, 0, False
        )
    return ListingOutcome(ListingOutcomeKind.COMPETITION, eligible, 0, prices.method, 0, False)


def agreement_quote_problem(prices: ListingPrices, quote: object) -> Rejection | None:
    """The single buyer must confirm a quote at or above the listing price."""
    if not is_amount(quote):
        return reject(RejectCode.INVALID_AMOUNT)
    if quote < prices.listing_price:
        return reject(RejectCode.BELOW_LISTING_PRICE)
    return None
