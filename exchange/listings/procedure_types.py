"""Inputs of the listing procedure after the announcement (意向登记, 资格确认, 协议成交)."""

from __future__ import annotations

import msgspec

from exchange.listings.types import ListingStatus


class IntentInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An investor's registration of intent: how it meets the published bidder conditions."""

    statement: str


class IntentComment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The institution's comment on an intent, for the operator's qualification."""

    comment: str


class IntentDecision(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The operator's qualification against the published conditions only: `qualify`, or
    `refuse` naming the published conditions (numbered from 1) the investor does not meet."""

    decision: str
    reasons: str = ""
    unmet_conditions: list[int] = msgspec.field(default_factory=list)


class AgreementQuote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The one qualified buyer's quote, in minor units, at or above the listing price."""

    quote: int


PROCEDURE_STATUSES = (ListingStatus.QUALIFYING, ListingStatus.UNSOLD, ListingStatus.AGREEMENT,
                      ListingStatus.COMPETITION, ListingStatus.DEALT, ListingStatus.RELISTED)
