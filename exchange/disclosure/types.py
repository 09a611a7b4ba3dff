"""Disclosure records (公示): kinds, the notice a service publishes, the stored record and its hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64  # the prev_hash of the first record
MAX_PAGE = 200


class Kind(StrEnum):
    LISTING_ANNOUNCEMENT = "listing_announcement"  # 挂牌公告
    AUCTION_NOTICE = "auction_notice"  # 拍卖公告
    DEAL_ANNOUNCEMENT = "deal_announcement"  # 成交公告
    AUCTION_FAILED = "auction_failed"  # 流拍公告
    TRANSACTION_CERTIFICATE = "transaction_certificate"  # 交易凭证
    OBJECTION_OUTCOME = "objection_outcome"  # 异议处理结果
    TENDER_ANNOUNCEMENT = "tender_announcement"  # 招标公告
    TENDER_OPENING = "tender_opening"  # 开标记录
    TENDER_CANDIDATES = "tender_candidates"  # 中标候选人公示
    TENDER_AWARD = "tender_award"  # 中标结果公告
    TENDER_OBJECTION_OUTCOME = "tender_objection_outcome"  # 招标异议答复
    PROBLEM_MILESTONE_ACCEPTED = "problem_milestone_accepted"  # 难题里程碑验收公告
    PROBLEM_ARBITRATION = "problem_arbitration"  # 难题验收异议仲裁结果
    LISTING_CHANGE = "listing_change"  # 挂牌信息变更公告 (restarts the announcement period)
    LISTING_EXTENSION = "listing_extension"  # 延长挂牌公告
    LISTING_SUSPENSION = "listing_suspension"  # 中止挂牌公告
    LISTING_RESUMPTION = "listing_resumption"  # 恢复挂牌公告
    LISTING_OUTCOME = "listing_outcome"  # 挂牌期满结果: qualified, deposited buyers and what follows
    AGREEMENT_NOTICE = "agreement_notice"  # 协议定价公示
    AGREEMENT_OBJECTION_OUTCOME = "agreement_objection_outcome"  # 协议定价异议处理结果
    AGREEMENT_CLEARED = "agreement_cleared"  # 公示期满无异议 (or objections dismissed): the deal may close
    QUOTE_OPENING = "quote_opening"  # 一次性报价 / 综合评议 opening: bidders and prices


@dataclass(frozen=True)
class Notice:
    """A fact to publish. `subject` names it within its procedure: the same fact published
    twice (a step repeated after a crash) is one record."""

    kind: Kind
    procedure: str
    subject: str
    published_at: datetime
    body: dict[str, Any]
    open_until: datetime | None = None
    corrects: int | None = None


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    procedure: str
    subject: str
    published_at: datetime
    open_until: datetime | None
    corrects: int | None
    body: dict[str, Any]
    prev_hash: str
    hash: str

    def is_open(self, now: datetime) -> bool:
        """Whether its objection window is still running (a record without one never closes)."""
        return self.open_until is None or now < self.open_until

    def view(self, now: datetime) -> dict[str, Any]:
        return {
            "seq": self.seq, "kind": self.kind, "procedure": self.procedure, "subject": self.subject,
            "published_at": instant(self.published_at), "open_until": instant(self.open_until),
            "window": "permanent" if self.open_until is None else ("open" if self.is_open(now) else "closed"),
            "corrects": self.corrects, "body": self.body, "prev_hash": self.prev_hash, "hash": self.hash,
        }


def instant(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with microseconds: the one spelling of a time inside a hash."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(
    seq: int, kind: str, procedure: str, subject: str, published_at: datetime, open_until: datetime | None,
    corrects: int | None, body: dict[str, Any], prev_hash: str,
) -> str:
    """sha256 of the canonical JSON of every field of the record but its own hash."""
    content = {
        "seq": seq, "kind": kind, "procedure": procedure, "subject": subject,
        "published_at": instant(published_at), "open_until": instant(open_until),
        "corrects": corrects, "body": body, "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(content).encode()).hexdigest()


def expected_hash(record: Record) -> str:
    return record_hash(record.seq, record.kind, record.procedure, record.subject, record.published_at,
                       record.open_until, record.corrects, record.body, record.prev_hash)
