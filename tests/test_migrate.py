"""Migrations: order, checksums, edits refused, one migrator at a time, failures roll back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from api import migrate
from api.dev import embedded_pg
from api.errors import DatabaseSetupError, MigrationError
from api.settings import REPO_ROOT


@pytest.fixture
def fresh_db(pg_server: str):
    name = f"mig_{uuid.uuid4().hex[:8]}"
    embedded_pg.ensure_database(pg_server, name)
    yield pg_server.replace("/postgres?", f"/{name}?")
    embedded_pg.drop_database(pg_server, name)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT filename FROM schema_migrations ORDER BY version")]


def test_applies_in_order_once_and_records_checksums(fresh_db, tmp_path):
    _write(tmp_path, "0002_second.sql", "ALTER TABLE a ADD COLUMN b int;")
    _write(tmp_path, "0001_first.sql", "CREATE TABLE a (id int);")
    assert migrate.migrate(fresh_db, tmp_path) == ["0001_first.sql", "0002_second.sql"]
    assert migrate.migrate(fresh_db, tmp_path) == []
    assert migrate.pending(fresh_db, tmp_path) == []
    with psycopg.connect(fresh_db) as conn:
        checksums = dict(conn.execute("SELECT filename, checksum FROM schema_migrations").fetchall())
    assert checksums["0001_first.sql"] == migrate.Migration("0001", tmp_path / "0001_first.sql").checksum


def test_edited_applied_migration_is_refused(fresh_db, tmp_path):
    path = _write(tmp_path, "0001_first.sql", "CREATE TABLE a (id int);")
    migrate.migrate(fresh_db, tmp_path)
    path.write_text("CREATE TABLE a (id bigint);")
    _write(tmp_path, "0002_second.sql", "CREATE TABLE b (id int);")
    with pytest.raises(MigrationError, match="0001_first.sql was edited after it was applied"):
        migrate.migrate(fresh_db, tmp_path)
    assert _applied(fresh_db) == ["0001_first.sql"]  # nothing after the edited file ran


def test_failed_migration_rolls_back_and_is_not_recorded(fresh_db, tmp_path):
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE a (id int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE b (id int); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationError, match="0002_broken.sql failed"):
        migrate.migrate(fresh_db, tmp_path)
    assert _applied(fresh_db) == ["0001_ok.sql"]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT to_regclass('b')").fetchone() == (None,)


def test_misnamed_migration_file_is_an_error(tmp_path):
    _write(tmp_path, "first.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_description.sql"):
        migrate.discover(tmp_path)


def test_missing_extension_explains_the_fix(fresh_db):
    with psycopg.connect(fresh_db) as conn, pytest.raises(DatabaseSetupError) as err:
        migrate.check_extensions(conn, ("vector_not_installed_here",))
    assert "CREATE EXTENSION vector_not_installed_here" in err.value.detail
    assert "unset DATABASE_URL" in err.value.detail


def test_concurrent_migrators_apply_each_file_once(fresh_db, tmp_path):
    shutil.copytree(REPO_ROOT / "migrations", tmp_path, dirs_exist_ok=True)
    # A slow last file widens the window in which a second migrator could sneak in.
    _write(tmp_path, "0999_slow.sql", "SELECT pg_sleep(1); CREATE TABLE only_once (id int);")
    env = {**os.environ, "DATABASE_URL": fresh_db, "DESKMATE_MIGRATIONS_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-m", "api.cli", "migrate"], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    reports = sorted(out for out, _ in outputs)
    assert sum("0999_slow.sql" in r for r in reports) == 1
    assert sum("up to date" in r for r in reports) == 3
    assert _applied(fresh_db)[-1] == "0999_slow.sql"


def test_cli_reports_an_unreachable_database_without_a_traceback(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"postgresql://nobody@/nodb?host={tmp_path}"}
    r = subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "error: cannot connect to the database" in r.stderr
    assert "Traceback" not in r.stderr
