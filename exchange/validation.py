"""Checks shared by every capability: text that is safe to store and show, money in range."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from exchange.errors import ValidationFailed

# Tag-like input is refused rather than stored: listings are public documents, not HTML.
_MARKUP = re.compile(r"<\s*[a-zA-Z!/?]|javascript\s*:", re.IGNORECASE)
MAX_AMOUNT = 10**15  # minor units: ten trillion yuan, far above any achievement's price
CURRENCIES = ("CNY", "USD", "EUR", "HKD")


class FieldErrors:
    """Collects every problem with an input before refusing it, so a form shows them all."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            summary = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            raise ValidationFailed(summary, field_errors=dict(self.errors))


def text(
    errors: FieldErrors, field: str, value: str, *, max_len: int, required: bool = True,
    multiline: bool = False,
) -> str:
    cleaned = unicodedata.normalize("NFC", value).strip()
    if required and not cleaned:
        errors.add(field, "is required")
    elif len(cleaned) > max_len:
        errors.add(field, f"must be at most {max_len} characters")
    elif _MARKUP.search(cleaned):
        errors.add(field, "must be plain text (no HTML or script)")
    elif any(_is_control(ch, multiline) for ch in cleaned):
        errors.add(field, "contains control characters")
    return cleaned


def text_list(
    errors: FieldErrors, field: str, values: Iterable[str], *, max_items: int, max_len: int
) -> list[str]:
    items = [v for v in (text(errors, field, v, max_len=max_len, required=False) for v in values) if v]
    if len(items) > max_items:
        errors.add(field, f"at most {max_items} entries")
    return items


def choice(errors: FieldErrors, field: str, value: str, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if value not in options:
        errors.add(field, f"must be one of: {', '.join(options)}")
    return value


def amount(errors: FieldErrors, field: str, value: int | None, *, allow_zero: bool = False) -> int:
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        errors.add(field, "must be a whole number of minor units (fen, cents)")
        return 0
    if value < 0 or (value == 0 and not allow_zero):
        errors.add(field, "must be positive" if not allow_zero else "must not be negative")
    elif value > MAX_AMOUNT:
        errors.add(field, f"must be at most {MAX_AMOUNT} minor units")
    return value


def currency(errors: FieldErrors, field: str, value: str) -> str:
    return choice(errors, field, value, CURRENCIES)


def _is_control(ch: str, multiline: bool) -> bool:
    if multiline and ch in "\n\r\t":
        return False
    return unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\u200d"
