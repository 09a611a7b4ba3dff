"""Deposits, trades, payouts and the rules (every number a setting with DOMAIN.md's default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec

from exchange.settings import whole_number
from exchange.validation import FieldErrors, amount, text


class DepositStatus(StrEnum):
    DUE = "due"  # qualified, not yet paid
    HELD = "held"  # in escrow; the investor may bid
    APPLIED = "applied"  # the winner's deposit, now part of the price
    RELEASED = "released"  # returned to the investor
    FORFEITED = "forfeited"  # the winner defaulted
    LAPSED = "lapsed"  # not paid in time: no right to bid


class TradeStatus(StrEnum):
    AWAITING_CONTRACT = "awaiting_contract"
    AWAITING_BALANCE = "awaiting_balance"
    AWAITING_DELIVERY = "awaiting_delivery"
    DELIVERED = "delivered"
    RELEASED = "released"
    FORFEITED = "forfeited"
    RESCINDED = "rescinded"  # an objection upheld: the buyer is refunded


class TradeMethod(StrEnum):
    """How the sale was made (the certificate's and the deal announcement's "method")."""

    ENGLISH_AUCTION = "english_auction"
    LISTING_AGREEMENT = "listing_agreement"  # one qualified buyer at the listing price
    SEALED_QUOTE = "sealed_quote"
    WEIGHTED_QUOTE = "weighted_quote"
    AGREEMENT_PRICING = "agreement_pricing"  # 协议定价, after its notice


@dataclass(frozen=True)
class Sale:
    """What a trade is opened for. A listing's sale names the listing (and the auction, for an
    auction's); an agreement-pricing sale names the agreement. `round` > 1: the next bidder."""

    method: TradeMethod
    buyer_id: int
    price: int
    listing_id: int | None = None
    auction_id: int | None = None
    agreement_id: int | None = None
    round: int = 1


class NextStep(StrEnum):
    NEXT_BIDDER = "next_bidder"
    RELIST = "relist"


@dataclass(frozen=True)
class FeeBand:
    """A marginal band: `basis_points` of the part of the price from `from_price` upward."""

    from_price: int
    basis_points: int


# A sliding scale per side: 1.5% up to 1M yuan, 1% to 5M, 0.5% to 10M, 0.2% above; at least 3,000 yuan.
DEFAULT_SCALE = (FeeBand(0, 150), FeeBand(100_000_000, 100), FeeBand(500_000_000, 50), FeeBand(1_000_000_000, 20))


@dataclass(frozen=True)
class SettlementRules:
    """Defaults from DOMAIN.md; `from_env` reads the exchange's own settings over them."""

    deposit_wd: int = 3  # pay the deposit within 3 working days of qualification
    contract_wd: int = 3  # the winner confirms the contract within 3 working days
    balance_wd: int = 5  # and pays the balance within 5
    objection_wd: int = 5  # the buyer may object to the delivery within 5 working days
    forfeit_seller_share_bp: int = 5_000  # the seller's share of a forfeited deposit
    buyer_scale: tuple[FeeBand, ...] = field(default=DEFAULT_SCALE)
    seller_scale: tuple[FeeBand, ...] = field(default=DEFAULT_SCALE)
    minimum_fee: int = 300_000  # per side, in minor units

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> SettlementRules:
        base = cls()
        scale = environ.get("EXCHANGE_COMMISSION_SCALE", "").strip()
        parsed = parse_scale(scale) if scale else base.buyer_scale
        return cls(
            deposit_wd=whole_number(environ, "EXCHANGE_DEPOSIT_WD", base.deposit_wd, 1, 60),
            contract_wd=whole_number(environ, "EXCHANGE_CONTRACT_WD", base.contract_wd, 1, 60),
            balance_wd=whole_number(environ, "EXCHANGE_BALANCE_WD", base.balance_wd, 1, 60),
            objection_wd=whole_number(environ, "EXCHANGE_OBJECTION_WD", base.objection_wd, 1, 60),
            forfeit_seller_share_bp=whole_number(environ, "EXCHANGE_FORFEIT_SELLER_SHARE_BP", base.forfeit_seller_share_bp, 0, 10_000),
            buyer_scale=parsed, seller_scale=parsed,
            minimum_fee=whole_number(environ, "EXCHANGE_MINIMUM_FEE", base.minimum_fee, 0, 10**12),
        )


def parse_scale(text: str) -> tuple[FeeBand, ...]:
    """`0:150,100000000:100`: bands of (from price in minor units, basis points), ascending from 0."""
    try:
        bands = tuple(FeeBand(int(a), int(b)) for a, b in (part.split(":") for part in text.split(",")))
    except ValueError as exc:
        raise SystemExit(f"EXCHANGE_COMMISSION_SCALE must look like 0:150,100000000:100, got {text!r}") from exc
    starts = [band.from_price for band in bands]
    if starts[0] != 0 or starts != sorted(set(starts)) or any(not 0 <= b.basis_points <= 10_000 for b in bands):
        raise SystemExit("EXCHANGE_COMMISSION_SCALE: bands start at 0, ascend, and charge 0 to 10000 basis points")
    return bands


def commission(price: int, scale: tuple[FeeBand, ...], minimum: int) -> int:
    """The fee on `price`: each band's rate on the part of the price inside it, rounded half
    up to the minor unit; never below `minimum`, never above the price."""
    total = 0
    for band, upper in zip(scale, [b.from_price for b in scale[1:]] + [None], strict=True):
        if price <= band.from_price:
            break
        part = (price if upper is None else min(price, upper)) - band.from_price
        total += part * band.basis_points
    fee = (total + 5_000) // 10_000
    return min(max(fee, minimum), price)


class BankTransfer(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A line of the settlement account's bank statement, matched by the payer's reference code
    (D… a deposit, T… a balance, S… a tender's bid security, P… a problem tender's escrow)."""

    reference_code: str
    amount: int
    statement_ref: str

    def checked(self) -> tuple[str, int, str]:
        """(reference code in upper case, amount, statement reference), or every problem at once."""
        errors = FieldErrors()
        reference = text(errors, "reference_code", self.reference_code, max_len=40).upper()
        statement_ref = text(errors, "statement_ref", self.statement_ref, max_len=100)
        paid = amount(errors, "amount", self.amount)
        errors.raise_if_any()
        return reference, paid, statement_ref


class Delivery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: str


class Objection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: str


class Ruling(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The operator's arbitration of a buyer's objection to the delivery."""

    outcome: str  # release | rescind
    reasons: str


class ForfeitDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    next_step: str


class PayoutSent(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    bank_ref: str


class PayoutAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stripe_account: str


class CardReturn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the hosted card page sends the payer back."""

    success_url: str
    cancel_url: str
