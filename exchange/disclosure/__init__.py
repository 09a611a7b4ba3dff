"""Public disclosure (公示): every public fact is a record in one append-only hash chain.

Services publish in the transaction of the fact itself, one line each:
`await disclosure.publish(conn, await disclosure.auction_notice(conn, auction_id, now))`.
"""

from exchange.disclosure.agreement_notices import (
    agreement_cleared,
    agreement_notice,
    agreement_objection_outcome,
)
from exchange.disclosure.listing_notices import (
    corrected_announcement,
    listing_change,
    listing_extension,
    listing_resumption,
    listing_suspension,
)
from exchange.disclosure.notices import (
    auction_failed,
    auction_notice,
    deal_announcement,
    listing_announcement,
    objection_outcome,
    transaction_certificate,
)
from exchange.disclosure.problem_notices import problem_arbitration, problem_milestone_accepted
from exchange.disclosure.service import DisclosureService, correct, publish
from exchange.disclosure.tender_notices import (
    tender_announcement,
    tender_award,
    tender_candidates,
    tender_objection_outcome,
    tender_opening,
)
from exchange.disclosure.types import Kind, Notice, Record

__all__ = [
    "agreement_cleared", "agreement_notice", "agreement_objection_outcome",
    "DisclosureService", "Kind", "Notice", "Record", "corrected_announcement", "listing_change",
    "listing_extension", "listing_resumption", "listing_suspension", "auction_failed", "auction_notice", "correct",
    "deal_announcement", "listing_announcement", "objection_outcome", "problem_arbitration",
    "problem_milestone_accepted", "publish", "tender_announcement",
    "tender_award", "tender_candidates", "tender_objection_outcome", "tender_opening", "transaction_certificate",
]
