"""Pooled connections are returned without a reset round trip (exchange/infra/db.py), which is
safe only while no code leaves session state on them: this scans the application's SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.config import PROJECT_ROOT

SESSION_STATE = [
    re.compile(r"pg_advisory_lock\(|pg_try_advisory_lock\("),  # a session-level advisory lock
    re.compile(r"\bLISTEN\s"),
    re.compile(r"\bDECLARE\s+\w+\s+(?:BINARY\s+)?(?:INSENSITIVE\s+)?(?:NO\s+)?(?:SCROLL\s+)?CURSOR", re.IGNORECASE),
    re.compile(r"""["']\s*SET\s+(?!LOCAL\b)(?:SESSION\s+)?\w+\s*(?:=|TO)""", re.IGNORECASE),
    re.compile(r"set_config\([^)]*,\s*false\s*\)", re.IGNORECASE),
]
# Their own connections, not the pool's (the migration lock is released in a finally).
ALLOWED = {"exchange/infra/migrations.py", "exchange/auctions/lease.py"}


def session_state(source: str) -> list[str]:
    return [match.group(0) for pattern in SESSION_STATE for match in pattern.finditer(source)]


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "exchange").rglob("*.py")),
                         ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_no_sql_leaves_session_state_on_a_pooled_connection(path: Path) -> None:
    if path.relative_to(PROJECT_ROOT).as_posix() not in ALLOWED:
        assert session_state(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("source", [
    'await conn.execute("SELECT pg_advisory_lock($1)", 7)', 'await conn.execute("LISTEN lots")',
    'await conn.execute("SET statement_timeout = 0")', "await conn.execute('SET SESSION work_mem TO 1')",
    "await conn.fetch(\"SELECT set_config('x', '1', false)\")", 'await conn.execute("DECLARE c CURSOR FOR SELECT 1")',
])
def test_the_scan_finds_session_state(source: str) -> None:
    assert session_state(source), source


def test_the_scan_leaves_transaction_scoped_state_alone() -> None:
    source = ('await conn.execute("SET LOCAL statement_timeout = 0")\n'
              'await conn.execute("SELECT pg_advisory_xact_lock($1)", 7)\n'
              '"""UPDATE trades SET stripe_account = $2"""\n')
    assert session_state(source) == []
