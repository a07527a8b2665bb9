"""The stack ``deskmate run`` starts: its database, the environment the Procfile's processes get (database,
Rasa, action server, service token), the start-up banner, and the readiness wait tests and benchmarks use."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from psycopg.conninfo import conninfo_to_dict

from api import keyfile
from api.auth import service as people
from api.auth.models import Role
from api.chat.rasa import channel_secret
from api.db import Conn
from api.dev import embedded_pg
from api.errors import NotFound
from api.improve import bot_models
from api.settings import Settings
from api.web.signin import links as signin_links

BOT_EMAIL = "deskmate-bot@example.com"
RASA_DATABASE = "deskmate_rasa"
DEMO_TOKENS_FILE = "demo-tokens.env"
DEMO_AGENT_EMAIL = "sam.lee@example.com"  # data/demo/org.yml: an agent of the service desk team


@dataclass(frozen=True)
class Databases:
    url: str
    tracker_url: str
    embedded_dir: Path | None = None


def databases(settings: Settings) -> Databases:
    """DATABASE_URL (also for Rasa's tracker), or the embedded server with a database of Rasa's own."""
    if settings.database_url is not None:
        url = settings.database_url.get_secret_value()
        return Databases(url, url)
    server, url = embedded_pg.start(settings.data_dir)
    embedded_pg.ensure_database(server.get_uri(), RASA_DATABASE)
    return Databases(url, server.get_uri(RASA_DATABASE), embedded_dir=settings.data_dir / "pgdata")


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


def actions_secret(settings: Settings) -> str:
    """The secret Rasa shows the action server (DESKMATE_ACTIONS_SECRET, or a file in the data dir)."""
    if settings.actions_secret is not None:
        return settings.actions_secret.get_secret_value()
    return keyfile.read_or_create(settings.data_dir / "actions.secret", nbytes=32)


def process_env(settings: Settings, *, database_url: str, tracker_url: str, bot_token: str) -> dict[str, str]:
    """The Procfile's environment. Every process listens on loopback; Rasa's channel and the action server also
    check a shared secret (docs/security.md). The assertion key stays with the api (it reads it itself)."""
    return {
        "DATABASE_URL": database_url,
        "DESKMATE_RASA_TOKEN": rasa_token(settings),
        "DESKMATE_RASA_URL": settings.rasa_url,
        "DESKMATE_RASA_MODEL": str(bot_models.current_model_path(settings)),  # the promoted one (docs/improving.md)
        "DESKMATE_RASA_CHANNEL_SECRET": channel_secret(settings),
        "DESKMATE_ACTIONS_SECRET": actions_secret(settings),
        "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{settings.actions_port}/webhook",  # per replica: replicas.py
        "DESKMATE_API_URL": f"http://{settings.host}:{settings.port}",
        "DESKMATE_SERVICE_TOKEN": bot_token,
        "DESKMATE_RASA_ACTION_TIMEOUT_S": str(settings.rasa_action_timeout_s),
        "DESKMATE_ACTIONS_API_TIMEOUT_S": str(settings.actions_api_timeout_s),
        **rasa_tracker_env(tracker_url),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
        "SANIC_HOST": "127.0.0.1",  # the action server listens on loopback only (the Procfile says so too)
        "DESKMATE_KB_PRELOAD_MODEL": os.environ.get("DESKMATE_KB_PRELOAD_MODEL", "true"),  # first answer is quick
    }


async def signin_lines(conn: Conn, settings: Settings,
                       who: Sequence[tuple[str, str | None]] | None = None) -> list[str]:
    """The banner's one-time sign-in links (``label``, e-mail): the demo agent to the console, the demo employee to
    the portal, for the running server's base URL. A person missing from the database is left out."""
    wanted = who if who is not None else (("agent console", DEMO_AGENT_EMAIL),
                                                  ("employee portal", settings.widget_demo_email))
    lines = []
    for label, email in wanted:
        if not email:
            continue
        try:
            link = await signin_links.link_for(conn, settings, email=email, base_url=settings.base_url)
        except NotFound:
            continue
        lines.append(f"sign in to the {label} as {email} (once, within {settings.web.signin_link_minutes} min):")
        lines.append(f"  {link}")
    if lines:
        lines.append("new link:    .venv/bin/deskmate signin-link EMAIL")
    return lines


def banner(settings: Settings, *, demo_tokens: str | None, extra: Sequence[str] = ()) -> str:
    """What ``deskmate run`` prints before starting the processes; ``demo_tokens`` only on the run that made them,
    ``extra`` lines about the demo parts (the desk's e-mail address)."""
    tokens_file = settings.data_dir / DEMO_TOKENS_FILE
    lines = [
        "",
        f"deskmate is starting at {settings.base_url}",
        f"  chat widget: {settings.base_url}/   (the assistant answers once Rasa has loaded, ~1-2 minutes)",
        f"  API docs:    {settings.base_url}/docs",
        f"  health:      {settings.base_url}/readyz",
    ]
    if demo_tokens:
        lines.append(f"  demo tokens (Authorization: Bearer …), created now and kept in {tokens_file}:")
        lines += [f"    {line}" for line in demo_tokens.splitlines() if line and not line.startswith("#")]
    elif tokens_file.exists():
        lines.append(f"  demo tokens: in {tokens_file} (mode 0600)")
    lines += [f"  {line}" for line in extra]
    lines += ["  new token:   .venv/bin/deskmate token create --email you@example.com --role admin",
              "  stop:        Ctrl-C", ""]
    return "\n".join(lines)


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
