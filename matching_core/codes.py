"""Result codes and input limits shared by every book.

A rejected command is a value, never an exception: hosts map the code to a user message.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TypeGuard

import msgspec

MAX_AMOUNT = 2**63 - 1
MAX_ID_LENGTH = 64
MAX_TEXT_LENGTH = 256


class RejectCode(IntEnum):
    STALE_TIME = 1
    NOT_OPEN = 2
    AUCTION_CLOSED = 3
    INVALID_AMOUNT = 4
    INVALID_BIDDER = 5
    UNKNOWN_BIDDER = 6
    DUPLICATE_BIDDER = 7
    ALREADY_LEADING = 8
    MAX_NOT_RAISED = 9
    BELOW_START = 10
    BELOW_MINIMUM = 11
    NOT_WHOLE_INCREMENT = 12
    WRONG_PHASE = 13
    NOT_PERMITTED = 14
    DUPLICATE_BID = 15
    NOT_ABOVE_ACCEPTED_PRICE = 16
    INVALID_COMMITMENT = 17
    DUPLICATE_PROPOSAL = 18
    COMMITMENT_MISMATCH = 19
    UNKNOWN_PROPOSAL = 20
    ALREADY_REVEALED = 21
    INVALID_SCORES = 22
    INVALID_COMMAND = 23
    INVALID_TIME = 24
    INVALID_TEXT = 25
    INVALID_WEIGHT = 26
    INVALID_LISTING = 27
    BELOW_LISTING_PRICE = 28


REASONS: dict[RejectCode, str] = {
    RejectCode.STALE_TIME: "the command is older than the last accepted one",
    RejectCode.NOT_OPEN: "bidding has not opened yet",
    RejectCode.AUCTION_CLOSED: "bidding is closed",
    RejectCode.INVALID_AMOUNT: "an amount must be a whole number of minor units between 1 and 2**63-1",
    RejectCode.INVALID_BIDDER: "a bidder id must be a non-empty string of at most 64 characters",
    RejectCode.UNKNOWN_BIDDER: "the bidder is not admitted to this lot",
    RejectCode.DUPLICATE_BIDDER: "the bidder is already admitted",
    RejectCode.ALREADY_LEADING: "you already hold the highest bid",
    RejectCode.MAX_NOT_RAISED: "a new maximum must be higher than your current maximum",
    RejectCode.BELOW_START: "the first bid must be at least the start price",
    RejectCode.BELOW_MINIMUM: "the bid must be at least the current price plus one increment",
    RejectCode.NOT_WHOLE_INCREMENT: "the bid must be the current price plus a whole number of increments",
    RejectCode.WRONG_PHASE: "this command is not allowed in the current phase",
    RejectCode.NOT_PERMITTED: "this bidder may not do that now",
    RejectCode.DUPLICATE_BID: "this bidder has already bid in this round",
    RejectCode.NOT_ABOVE_ACCEPTED_PRICE: "a sealed bid must be above the accepted price",
    RejectCode.INVALID_COMMITMENT: "a commitment must be 64 lowercase hexadecimal characters",
    RejectCode.DUPLICATE_PROPOSAL: "this bidder has already submitted a proposal",
    RejectCode.COMMITMENT_MISMATCH: "the revealed proposal does not match its commitment",
    RejectCode.UNKNOWN_PROPOSAL: "this bidder submitted no proposal",
    RejectCode.ALREADY_REVEALED: "this proposal is already revealed",
    RejectCode.INVALID_SCORES: "technical scores must cover each revealed proposal once, 0..10000",
    RejectCode.INVALID_COMMAND: "this book does not accept that command",
    RejectCode.INVALID_TIME: "time must be whole microseconds since the Unix epoch",
    RejectCode.INVALID_TEXT: "the text field is empty, too long or not a string",
    RejectCode.INVALID_WEIGHT: "the price weight must be 1000..10000 basis points (10000 when only price counts)",
    RejectCode.INVALID_LISTING: "the listing price must be a positive amount, not below the appraisal",
    RejectCode.BELOW_LISTING_PRICE: "the quote must be at least the listing price",
}


class Rejection(msgspec.Struct, frozen=True):
    code: RejectCode
    reason: str


def reject(code: RejectCode | int) -> Rejection:
    known = RejectCode(code)
    return Rejection(known, REASONS[known])


def is_amount(value: object) -> TypeGuard[int]:
    """Money is an int of minor units; bool is an int subclass but never money."""
    return type(value) is int and 0 < value <= MAX_AMOUNT


def is_time(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_AMOUNT


def is_text(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_TEXT_LENGTH


def is_id(value: object) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH
