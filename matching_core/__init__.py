"""Deterministic in-memory trading engines; see README.md.

Pure and synchronous: no I/O, no clock, no randomness. Time is an int of microseconds
passed in; money is an int of minor units.
"""

from matching_core.codes import MAX_AMOUNT, REASONS, RejectCode, Rejection, reject
from matching_core.common import (
    AdmitBidder,
    AuctionClosed,
    BidderAdmitted,
    IncrementBand,
    IncrementTable,
    Tick,
    bidder_code,
    fixed_increment,
)
from matching_core.dutch import DutchBook
from matching_core.dutch_types import (
    AcceptPrice,
    DeclineMatch,
    DutchCommand,
    DutchEvent,
    DutchPhase,
    DutchSnapshot,
    DutchTerms,
    MatchBestBid,
    MatchOffered,
    PriceAccepted,
    SealedBidPlaced,
    SubmitSealedBid,
)
from matching_core.english import EnglishBook
from matching_core.english_types import (
    BidAccepted,
    EnglishCommand,
    EnglishEvent,
    EnglishSnapshot,
    EnglishTerms,
    PlaceBid,
    PlaceProxyBid,
)
from matching_core.listing import (
    CompetitiveMethod,
    IntendedBuyer,
    ListingOutcome,
    ListingOutcomeKind,
    ListingPrices,
    agreement_quote_problem,
    decide_listing_outcome,
)
from matching_core.sealed import SealedBook
from matching_core.sealed_types import (
    Candidate,
    Direction,
    Evaluate,
    Evaluation,
    OpeningCancelled,
    ProposalCommitted,
    ProposalRevealed,
    ProposalsOpened,
    ProposalsRanked,
    RevealProposal,
    SealedCommand,
    SealedEvent,
    SealedPhase,
    SealedPublicView,
    SealedSnapshot,
    SealedTerms,
    SubmitProposal,
    TechnicalScore,
    proposal_commitment,
)

__all__ = [
    "MAX_AMOUNT", "REASONS", "RejectCode", "Rejection", "reject",
    "AdmitBidder", "AuctionClosed", "BidderAdmitted", "IncrementBand", "IncrementTable", "Tick",
    "bidder_code", "fixed_increment",
    "EnglishBook", "BidAccepted", "EnglishCommand", "EnglishEvent", "EnglishSnapshot",
    "EnglishTerms", "PlaceBid", "PlaceProxyBid",
    "DutchBook", "AcceptPrice", "DeclineMatch", "DutchCommand", "DutchEvent", "DutchPhase",
    "DutchSnapshot", "DutchTerms", "MatchBestBid", "MatchOffered", "PriceAccepted",
    "SealedBidPlaced", "SubmitSealedBid",
    "SealedBook", "Candidate", "Direction", "Evaluate", "Evaluation", "OpeningCancelled",
    "ProposalCommitted", "ProposalRevealed", "ProposalsOpened", "ProposalsRanked",
    "RevealProposal", "SealedCommand", "SealedEvent", "SealedPhase", "SealedPublicView",
    "SealedSnapshot", "SealedTerms", "SubmitProposal", "TechnicalScore", "proposal_commitment",
    "CompetitiveMethod", "IntendedBuyer", "ListingOutcome", "ListingOutcomeKind",
    "ListingPrices", "agreement_quote_problem", "decide_listing_outcome",
]  # fmt: skip
