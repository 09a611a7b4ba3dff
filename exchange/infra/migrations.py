"""Forward-only numbered SQL migrations, each applied once and recorded with its checksum."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from exchange.errors import MigrationError
from exchange.infra.db import Conn

# Any fixed number shared by every process that migrates this database.
MIGRATION_LOCK_KEY = 7_304_114_421
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migration numbers must run 1, 2, 3, … without gaps; found {versions}")
    return found


async def migrate(conn: Conn, directory: Path) -> list[str]:
    """Apply pending migrations; returns the names applied. Safe to run from many processes."""
    migrations = load_migrations(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        known = {m.version for m in migrations}
        for version, recorded in sorted(applied.items()):
            if version not in known:
                raise MigrationError(
                    f"the database has migration {recorded['name']} which is missing from {directory}"
                )
        done: list[str] = []
        for migration in migrations:
            row = applied.get(migration.version)
            if row is not None:
                if row["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was edited after it was applied "
                        f"(recorded checksum {row['checksum'][:12]}…, file now "
                        f"{migration.checksum[:12]}…). Migrations are forward-only: "
                        "restore the file and add a new numbered migration instead."
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.name)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
