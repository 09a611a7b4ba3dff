"""Reading a service's rules from the exchange's EXCHANGE_* settings, over DOMAIN.md's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The setting `name` as a whole number from `low` to `high`; `default` when it is not set.
    A bad value stops the exchange at start, naming the setting."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SystemExit(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def rules_from_env(cls: type[T], env: Mapping[str, str], prefix: str) -> T:
    """A rules dataclass with EXCHANGE_<PREFIX>_<FIELD> over each field's default: whole numbers,
    and seconds (a decimal number) for fields ending in `_s`."""
    values: dict[str, Any] = {}
    for spec in fields(cls):  # type: ignore[arg-type]
        name = f"EXCHANGE_{prefix}_{spec.name.upper()}"
        raw = env.get(name)
        if raw:
            try:
                values[spec.name] = float(raw) if spec.name.endswith("_s") else int(raw)
            except ValueError as exc:
                raise SystemExit(f"{name} must be a number, got {raw!r}") from exc
    return cls(**values)
