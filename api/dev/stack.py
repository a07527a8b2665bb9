"""The environment `deskmate run` gives the Procfile's processes: database, Rasa, action server, service token."""

from __future__ import annotations

import os
import subprocess
import time

import httpx
from psycopg.conninfo import conninfo_to_dict

from api import keyfile
from api.auth import service as people
from api.auth.models import Role
from api.db import Conn
from api.settings import Settings

BOT_EMAIL = "deskmate-bot@example.com"
RASA_DATABASE = "deskmate_rasa"


def rasa_tracker_env(url: str) -> dict[str, str]:
    """Rasa's SQL tracker store settings (bot/endpoints.yml) for the database behind ``url``.

    A unix-socket host (the embedded server) is passed as the socket directory, which psycopg2 accepts.
    """
    info = conninfo_to_dict(url)
    return {
        "DESKMATE_RASA_DB_HOST": str(info.get("host") or "127.0.0.1"),
        "DESKMATE_RASA_DB_PORT": str(info.get("port") or 5432),
        "DESKMATE_RASA_DB_NAME": str(info.get("dbname") or "postgres"),
        "DESKMATE_RASA_DB_USER": str(info.get("user") or "postgres"),
        "DESKMATE_RASA_DB_PASSWORD": str(info.get("password") or ""),
    }


async def service_token(conn: Conn) -> str:
    """A fresh token for the action server's service identity; earlier ones are revoked."""
    bot = await people.get_by_email(conn, email=BOT_EMAIL)
    if bot is not None:
        await people.revoke_tokens(conn, user_id=bot.id)
    created = await people.ensure_user_with_token(conn, email=BOT_EMAIL, role=Role.service, name="deskmate bot")
    return created.token


def rasa_token(settings: Settings) -> str:
    """The token that guards Rasa's HTTP API (kept in the data dir, or DESKMATE_RASA_TOKEN)."""
    if settings.rasa_token is not None:
        return settings.rasa_token.get_secret_value()
    return keyfile.read_or_create(settings.data_dir / "rasa.token", nbytes=32)


def process_env(settings: Settings, *, database_url: str, tracker_url: str, bot_token: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DESKMATE_RASA_TOKEN": rasa_token(settings),
        "DESKMATE_RASA_URL": settings.rasa_url,
        "DESKMATE_ACTIONS_URL": "http://127.0.0.1:5055/webhook",
        "DESKMATE_API_URL": f"http://{settings.host}:{settings.port}",
        "DESKMATE_SERVICE_TOKEN": bot_token,
        **rasa_tracker_env(tracker_url),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
        "SANIC_HOST": "127.0.0.1",
        "DESKMATE_KB_PRELOAD_MODEL": os.environ.get("DESKMATE_KB_PRELOAD_MODEL", "true"),  # first answer is quick  # the action server (rasa_sdk) listens on loopback only
    }


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], *, timeout_s: float, what: str) -> None:
    """Polls ``url`` until it answers 200; raises when ``proc`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up (exit {proc.returncode})")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{what} did not become ready at {url} within {timeout_s:g} s")
