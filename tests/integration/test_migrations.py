from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import asyncpg
import pytest

from exchange.errors import MigrationError
from exchange.infra.embedded import EmbeddedPostgres
from exchange.infra.migrations import load_migrations, migrate


@pytest.fixture
async def empty_database(pg_server: EmbeddedPostgres) -> str:
    pg_server.psql("DROP DATABASE IF EXISTS migrations_test WITH (FORCE)")
    pg_server.psql("CREATE DATABASE migrations_test")
    return pg_server.url("migrations_test")


@pytest.fixture
def migrations_copy(tmp_path: Path, project_root: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(project_root / "migrations", target)
    return target


async def test_each_migration_is_applied_once_with_its_checksum(empty_database: str, migrations_copy: Path) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        first = await migrate(conn, migrations_copy)
        second = await migrate(conn, migrations_copy)
        rows = await conn.fetch("SELECT name, checksum FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    expected = load_migrations(migrations_copy)
    assert first == [m.name for m in expected]
    assert second == []
    assert [(r["name"], r["checksum"]) for r in rows] == [(m.name, m.checksum) for m in expected]


async def test_an_edited_applied_migration_is_refused(empty_database: str, migrations_copy: Path) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn, migrations_copy)
        first = sorted(migrations_copy.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited afterwards\n")
        with pytest.raises(MigrationError, match=f"{first.name} was edited after it was applied"):
            await migrate(conn, migrations_copy)
    finally:
        await conn.close()


async def test_a_new_migration_is_applied_in_a_transaction_and_a_failing_one_leaves_nothing(
    empty_database: str, migrations_copy: Path
) -> None:
    number = len(list(migrations_copy.glob("*.sql"))) + 1
    (migrations_copy / f"{number:04d}_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_function();\n"
    )
    conn = await asyncpg.connect(empty_database)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, migrations_copy)
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == number - 1
    finally:
        await conn.close()


async def test_two_processes_migrating_at_once_do_not_collide(empty_database: str, migrations_copy: Path) -> None:
    first, second = await asyncpg.connect(empty_database), await asyncpg.connect(empty_database)
    try:
        results = await asyncio.gather(migrate(first, migrations_copy), migrate(second, migrations_copy))
        count = await first.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await first.close()
        await second.close()
    names = [m.name for m in load_migrations(migrations_copy)]
    assert sorted(results, key=len) == [[], names]
    assert count == len(names)


def test_migration_files_must_be_numbered_without_gaps(tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0003_third.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="without gaps"):
        load_migrations(tmp_path)


def test_migration_files_must_follow_the_naming_rule(tmp_path: Path) -> None:
    (tmp_path / "1_First.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake.sql"):
        load_migrations(tmp_path)


async def _allowed_values(conn: asyncpg.Connection) -> dict[str, set[str]]:
    """Each `column IN ('a', 'b', ...)` CHECK constraint, by table and name, with the values it allows."""
    rows = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def "
        "FROM pg_constraint WHERE contype = 'c' AND pg_get_constraintdef(oid) LIKE '%ANY (ARRAY[%'")
    return {f"{r['tbl']}.{r['conname']}": set(re.findall(r"'([^']*)'::", r["def"])) for r in rows}


async def test_a_later_migration_that_redefines_a_check_keeps_every_value_it_allowed(
    empty_database: str, migrations_copy: Path, tmp_path: Path,
) -> None:
    """A migration that widens an `IN (...)` constraint restates its list; a value left out of the
    restatement would refuse rows the code still writes (a problem escrow's payment, once)."""
    steps = tmp_path / "steps"
    steps.mkdir()
    conn = await asyncpg.connect(empty_database)
    try:
        allowed: dict[str, set[str]] = {}
        for migration in sorted(migrations_copy.glob("*.sql")):
            shutil.copy(migration, steps / migration.name)
            await migrate(conn, steps)
            now = await _allowed_values(conn)
            for name, values in allowed.items():
                if name in now:
                    assert values <= now[name], f"{migration.name} drops {sorted(values - now[name])} from {name}"
            allowed.update(now)
    finally:
        await conn.close()
    assert {"deposit", "balance", "escrow", "overpayment"} <= allowed["payments.payments_purpose_check"]
