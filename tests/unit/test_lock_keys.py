"""Every PostgreSQL advisory lock of the exchange has a key of its own: two locks sharing a key
would wait for each other (the engine lock held for the engine's life would stop the chain)."""

from __future__ import annotations

import re

from exchange.config import PROJECT_ROOT

_KEY = re.compile(r"^([A-Z_]+_LOCK_KEY) = ([0-9_]+)$", re.MULTILINE)


def test_advisory_lock_keys_are_distinct() -> None:
    found: dict[int, list[str]] = {}
    for path in sorted((PROJECT_ROOT / "exchange").rglob("*.py")):
        for name, value in _KEY.findall(path.read_text(encoding="utf-8")):
            found.setdefault(int(value.replace("_", "")), []).append(f"{path.name}:{name}")
    assert len(found) >= 3, found  # the migrations, the disclosure chain and the engine
    assert {key: names for key, names in found.items() if len(names) > 1} == {}
