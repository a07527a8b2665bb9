"""Migrations: numbered plain SQL files applied in order, each in its own transaction.

Applied files are recorded in ``schema_migrations`` with a SHA-256 checksum; an applied file that
was edited afterwards is refused. A session-level advisory lock keeps two processes that start at
once from both migrating: the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import DictRow, dict_row

from api.errors import DatabaseSetupError, MigrationError

log = logging.getLogger(__name__)
LOCK_ID = 0x6465736B6D617465 & 0x7FFFFFFFFFFFFFFF  # "deskmate"
DictConn = psycopg.Connection[DictRow]
_FILENAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
REQUIRED_EXTENSIONS = ("vector",)

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    filename text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """The migration files in ``directory``, ordered by number; misnamed .sql files are an error."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_description.sql")
        migrations.append(Migration(match.group(1), path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    return migrations


def check_extensions(conn: DictConn, extensions: tuple[str, ...] = REQUIRED_EXTENSIONS) -> None:
    """Fails with instructions when a required extension is neither installed nor installable."""
    for name in extensions:
        row = conn.execute(
            "SELECT installed_version FROM pg_available_extensions WHERE name = %s", (name,)
        ).fetchone()
        if row is None:
            raise DatabaseSetupError(
                f"The PostgreSQL server has no '{name}' extension. Install pgvector on the database "
                f"server (Debian/Ubuntu: apt install postgresql-<major>-pgvector; managed services: "
                f"enable the 'vector' extension), then run CREATE EXTENSION {name}; as a superuser - "
                f"or unset DATABASE_URL to use the embedded server."
            )


def _applied(conn: DictConn) -> dict[str, dict]:
    rows = conn.execute("SELECT version, filename, checksum FROM schema_migrations").fetchall()
    return {r["version"]: r for r in rows}


def _verify_checksums(migrations: list[Migration], applied: dict[str, dict]) -> None:
    for m in migrations:
        done = applied.get(m.version)
        if done and done["checksum"] != m.checksum:
            raise MigrationError(
                f"{m.path.name} was edited after it was applied (recorded checksum "
                f"{done['checksum'][:12]}, file now {m.checksum[:12]}). Restore the original file "
                f"and put the change in a new migration."
            )


def pending(url: str, directory: Path) -> list[Migration]:
    """Migrations not yet applied; raises MigrationError when an applied file was edited."""
    migrations = discover(directory)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations') AS t").fetchone()
        applied = _applied(conn) if exists and exists["t"] else {}
    _verify_checksums(migrations, applied)
    return [m for m in migrations if m.version not in applied]


def migrate(url: str, directory: Path) -> list[str]:
    """Applies pending migrations under the advisory lock; returns the file names applied."""
    migrations = discover(directory)
    done: list[str] = []
    try:
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.OperationalError as exc:
        raise DatabaseSetupError(f"cannot connect to the database: {exc}") from exc
    with conn:
        check_extensions(conn)
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            conn.execute(_CREATE_TABLE)
            applied = _applied(conn)
            _verify_checksums(migrations, applied)
            for m in migrations:
                if m.version in applied:
                    continue
                _apply(conn, m)
                done.append(m.path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_ID,))
    return done


def _apply(conn: DictConn, m: Migration) -> None:
    log.info("applying migration", extra={"migration": m.path.name})
    with conn.transaction():
        try:
            conn.execute(m.path.read_text(encoding="utf-8"))  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise MigrationError(f"{m.path.name} failed: {exc}") from exc
        conn.execute(
            "INSERT INTO schema_migrations (version, filename, checksum) VALUES (%s, %s, %s)",
            (m.version, m.path.name, m.checksum),
        )
