"""Browser fixtures: headless Chromium (Debian's package, driven by Playwright), the api as a real process
next to a fake Rasa, and the real stack (Rasa server + action server + api, with the demo directory in a real
slapd and a real SMTP server, as ``deskmate run`` has them; a workflow worker on request) for the end-to-end tests.

Chromium is the system one (``apt-get install -y chromium``); Playwright's own browser downloads are
never used. Every launch gets a fresh temporary profile (Playwright's default for ``launch``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pytest
from e2e_support import CHANNEL_SECRET, METRICS_TOKEN, RASA_TEST_DB, free_port
from fakes.bot_framework import FakeBotFramework, FakeBotFrameworkServer
from fakes.rasa_server import FakeRasa, FakeRasaServer
from fakes.slack_server import TEAM, FakeSlack, FakeSlackServer
from fakes.slapd_server import Slapd
from fakes.smtp_sink import SmtpSink
from playwright.async_api import Browser, Page, async_playwright
from psycopg.rows import dict_row

from api.dev import directory, embedded_pg, stack
from api.integrations.ldap import demo
from api.settings import REPO_ROOT, Settings

CHROMIUM = os.environ.get("DESKMATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO_ROOT / "tests" / "e2e" / "screenshots"
TEST_DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", REPO_ROOT / "var" / "test"))  # as in ../conftest.py
LOGS = TEST_DATA_DIR / "logs"
RASA_VENV = REPO_ROOT / ".venv-rasa"
RASA_MODEL = REPO_ROOT / "bot" / "models" / "deskmate.tar.gz"
RASA_START_TIMEOUT_S = float(os.environ.get("DESKMATE_RASA_START_TIMEOUT", "300"))
ACTIONS_SECRET = "e2e-actions-" + os.urandom(12).hex()


# ---------- processes ----------

@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def start_service(name: str, cmd: list[str], *, env: dict[str, str], url: str, health: str,
                  timeout_s: float = 180.0) -> Service:
    """Starts ``cmd`` (output to var/test/logs/<name>.log) and polls ``url + health`` until it answers 200."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    service = Service(name, url, proc, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited during start-up (code {proc.returncode}):\n{_tail(log)}")
        try:
            if httpx.get(url + health, timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"{name} did not answer {health} within {timeout_s:.0f} s:\n{_tail(log)}")


def start_api(database_url: str, name: str, *, port: int | None = None, **env: str) -> Service:
    port = port or free_port()
    environ = {**os.environ, "DATABASE_URL": database_url, "DESKMATE_ENV": "test", "DESKMATE_PORT": str(port),
               "DESKMATE_DATA_DIR": str(TEST_DATA_DIR), "DESKMATE_LOG_LEVEL": "WARNING",
               "DESKMATE_RASA_CHANNEL_SECRET": CHANNEL_SECRET, **env}
    return start_service(name, [sys.executable, "-m", "api.cli", "serve"], env=environ,
                         url=f"http://127.0.0.1:{port}", health="/readyz")


@pytest.fixture(scope="session")
def fake_rasa() -> Iterator[FakeRasa]:
    with FakeRasaServer(secret=CHANNEL_SECRET) as fake:
        yield fake


@pytest.fixture(scope="session")
def widget_api(database_url: str, fake_rasa: FakeRasa, intranet: tuple[str, dict[str, bytes]]) -> Iterator[str]:
    """The api as a real process whose Rasa is the fake; the intranet's origin is allowed by CORS."""
    service = start_api(database_url, "api-fake-rasa", DESKMATE_RASA_URL=fake_rasa.url,
                        DESKMATE_CORS_ORIGINS=intranet[0])
    yield service.url
    service.stop()


@pytest.fixture(scope="session")
def api_without_rasa(database_url: str) -> Iterator[str]:
    """The api as a real process whose Rasa is down (nothing listens on its port)."""
    service = start_api(database_url, "api-no-rasa", DESKMATE_RASA_URL=f"http://127.0.0.1:{free_port()}",
                        **SHORT_TIMEOUTS)
    yield service.url
    service.stop()


# Hop timeouts that nest (api/settings.py checks it) with a 2 s wait for Rasa.
SHORT_TIMEOUTS = {"DESKMATE_RASA_TIMEOUT_S": "2", "DESKMATE_RASA_ACTION_TIMEOUT_S": "1.5",
                  "DESKMATE_ACTIONS_API_TIMEOUT_S": "1", "DESKMATE_LLM_TIMEOUT_S": "0.4"}


@dataclass
class FakeRasaProcess:
    """The fake Rasa as its own process on a fixed port, so a test can kill it and start it again."""

    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "tests" / "fakes" / "rasa_server.py"),
                                      "--port", str(self.port), "--secret", CHANNEL_SECRET], cwd=REPO_ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the fake Rasa did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="session")
def restartable_rasa(database_url: str) -> Iterator[tuple[str, FakeRasaProcess]]:
    """An api whose Rasa is a fake process that tests may kill and restart: (api URL, the fake)."""
    fake = FakeRasaProcess(free_port())
    fake.start()
    service = start_api(database_url, "api-restartable-rasa", DESKMATE_RASA_URL=fake.url, **SHORT_TIMEOUTS)
    yield service.url, fake
    service.stop()
    fake.kill()


def _rasa_available() -> bool:
    return (RASA_VENV / "bin" / "rasa").exists() and RASA_MODEL.exists()


@pytest.fixture(scope="session")
async def service_token(database_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        return await stack.service_token(conn)


@dataclass
class Stack:
    api: str
    rasa: str
    actions: str
    services: dict[str, Service]
    env: dict[str, str]  # the api's environment (a worker gets the same)
    directory: Slapd  # the demo directory (data/demo/directory.yml: jordan.blake is locked)
    mail: SmtpSink  # every e-mail the api and the worker send


@pytest.fixture(scope="session")
def demo_directory() -> Iterator[Slapd]:
    """The demo organisation's directory in a real slapd (ppolicy: locked accounts are really locked)."""
    layout, seed = demo.ldif(services={directory.SERVICE: SERVICE_PASSWORD})
    with Slapd(layout, seed, writers=[layout.service(directory.SERVICE)]) as server:
        yield server


SERVICE_PASSWORD = "e2e-directory-" + os.urandom(12).hex()


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def _delivery_env(settings: Settings, slapd: Slapd, sink: SmtpSink) -> dict[str, str]:
    """DESKMATE_LDAP_* as ``deskmate run`` gives its demo directory, and DESKMATE_SMTP_* for the sink."""
    return {**directory.connector_env(settings, url=slapd.url, layout=slapd.layout, service_password=SERVICE_PASSWORD),
            "DESKMATE_SMTP_HOST": "127.0.0.1", "DESKMATE_SMTP_PORT": str(sink.port), "DESKMATE_SMTP_TLS": "none",
            "DESKMATE_SMTP_USER": sink.sink.user, "DESKMATE_SMTP_PASSWORD": sink.sink.password,
            "DESKMATE_SMTP_FROM": "desk@deskmate.test"}


@pytest.fixture(scope="session")
def real_stack(real_processes: Stack) -> str:
    """The api of the real stack (Rasa server, action server, api)."""
    return real_processes.api


@pytest.fixture(scope="session")
def real_processes(pg_server: str, database_url: str, service_token: str, settings: Settings,
                   demo_directory: Slapd, mail_sink: SmtpSink) -> Iterator[Stack]:
    """The real Rasa server and action server, and an api using them, started as the Procfile does; the api's
    directory is the demo one (``demo_directory``) and its e-mail goes to ``mail_sink``.

    Skipped when .venv-rasa or the trained model is missing, unless DESKMATE_REQUIRE_RASA is set (CI).
    """
    if not _rasa_available():
        if os.environ.get("DESKMATE_REQUIRE_RASA"):
            pytest.fail(f"DESKMATE_REQUIRE_RASA is set but {RASA_VENV}/bin/rasa or {RASA_MODEL} is missing "
                        "(scripts/rasa_env.sh, then scripts/train_bot.sh)")
        pytest.skip("no Rasa environment or trained model (scripts/rasa_env.sh, scripts/train_bot.sh)")
    embedded_pg.drop_database(pg_server, RASA_TEST_DB)
    embedded_pg.ensure_database(pg_server, RASA_TEST_DB)
    rasa_port, actions_port, api_port = free_port(), free_port(), free_port()
    rasa_token = "e2e-" + os.urandom(12).hex()
    env = {**os.environ, **stack.rasa_tracker_env(pg_server.replace("/postgres?", f"/{RASA_TEST_DB}?")),
           "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{actions_port}/webhook",
           "DESKMATE_API_URL": f"http://127.0.0.1:{api_port}", "DESKMATE_SERVICE_TOKEN": service_token,
           "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO_ROOT),
           "DESKMATE_RASA_CHANNEL_SECRET": CHANNEL_SECRET, "DESKMATE_ACTIONS_SECRET": ACTIONS_SECRET,
           "DESKMATE_RASA_ACTION_TIMEOUT_S": "25", "DESKMATE_ACTIONS_API_TIMEOUT_S": "20",
           "DESKMATE_ACTIONS_WORKFLOW_WAIT_S": "20"}  # a loaded CI machine: the worker may take a while
    started: list[Service] = []
    try:
        started.append(start_service(
            "actions", [str(RASA_VENV / "bin" / "python"), "-m", "actions.server", "--host", "127.0.0.1",
                        "--port", str(actions_port)],
            env=env, url=f"http://127.0.0.1:{actions_port}", health="/health", timeout_s=180))
        started.append(start_service(
            "rasa", [str(RASA_VENV / "bin" / "rasa"), "run", "--enable-api", "--auth-token", rasa_token,
                     "--interface", "127.0.0.1", "--port", str(rasa_port), "--model", str(RASA_MODEL),
                     "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"],
            env=env, url=f"http://127.0.0.1:{rasa_port}", health=f"/status?token={rasa_token}",
            timeout_s=RASA_START_TIMEOUT_S))
        api_env = {"DESKMATE_RASA_URL": f"http://127.0.0.1:{rasa_port}", "DESKMATE_RASA_TOKEN": rasa_token,
                   "DESKMATE_RASA_TIMEOUT_S": "30", **_delivery_env(settings, demo_directory, mail_sink),
                   "DESKMATE_METRICS_TOKEN": METRICS_TOKEN, "DESKMATE_LOG_LEVEL": "INFO"}  # /metrics, trace ids
        started.append(start_api(database_url, "api-real-rasa", port=api_port, **api_env))
        yield Stack(api=started[-1].url, rasa=started[1].url, actions=started[0].url,
                    services={s.name: s for s in started}, env=api_env, directory=demo_directory, mail=mail_sink)
    finally:
        for service in reversed(started):
            service.stop()


@dataclass
class Channels:
    api: str
    slack: FakeSlack
    teams: FakeBotFramework
    signing_secret: str


@pytest.fixture(scope="session")
def channels(database_url: str, real_processes: Stack, demo_kb: None) -> Iterator[Channels]:
    """An api process with Slack and Teams on (against the fakes), using the real Rasa of ``real_processes``."""
    secret = "e2e-slack-signing-" + os.urandom(12).hex()
    with FakeSlackServer() as slack, FakeBotFrameworkServer() as teams:
        service = start_api(database_url, "api-channels", **real_processes.env,
                            DESKMATE_SLACK_BOT_TOKEN=slack.token, DESKMATE_SLACK_SIGNING_SECRET=secret,
                            DESKMATE_SLACK_TEAM_ID=TEAM, DESKMATE_SLACK_API_URL=slack.url,
                            DESKMATE_TEAMS_APP_ID=teams.app_id, DESKMATE_TEAMS_CLIENT_SECRET=teams.client_secret,
                            DESKMATE_TEAMS_TENANT_ID="tenant-1", DESKMATE_TEAMS_OPENID_METADATA_URL=f"{teams.url}/openid",
                            DESKMATE_TEAMS_TOKEN_URL=f"{teams.url}/token", DESKMATE_TEAMS_ALLOW_LOOPBACK="true")
        try:
            yield Channels(service.url, slack, teams, secret)
        finally:
            service.stop()


def _worker_ids(database_url: str) -> set[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM procrastinate_workers").fetchall()}


@pytest.fixture
def workflow_worker(real_processes: Stack, database_url: str) -> Iterator[Service]:
    """``deskmate worker --queue workflows`` with the real stack's environment, for one test; ready once it has
    registered with procrastinate. Not for the session: other tests' workflow jobs in the same database are theirs."""
    before = _worker_ids(database_url)
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / "worker-workflows.log"
    environ = {**os.environ, "DATABASE_URL": database_url, "DESKMATE_ENV": "test", "DESKMATE_DATA_DIR": str(TEST_DATA_DIR),
               "DESKMATE_LOG_LEVEL": "WARNING", **real_processes.env}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--queue", "workflows"], env=environ,
                                cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
    service = Service("worker-workflows", "", proc, log)
    try:
        deadline = time.monotonic() + 60
        while not _worker_ids(database_url) - before:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the workflow worker did not start:\n{_tail(log)}")
            time.sleep(0.1)
        yield service
    finally:
        service.stop()


# ---------- the browser ----------

@pytest.fixture(scope="session")
def intranet() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A web server on another origin (``localhost`` instead of ``127.0.0.1``): its origin and the page it serves."""
    content = {"html": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(content["html"])))
            self.end_headers()
            self.wfile.write(content["html"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}", content
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def other_origin_page(widget_api: str, intranet: tuple[str, dict[str, bytes]]) -> str:
    """An intranet page on the other origin that embeds the widget."""
    origin, content = intranet
    content["html"] = (f'<!doctype html><html lang="en"><title>Team wiki</title><h1>Team wiki</h1>'
                       f'<script src="{widget_api}/widget.js" defer></script></html>').encode()
    return f"{origin}/"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) "
                    "or point DESKMATE_CHROMIUM at a Chromium binary")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh browser context (its own storage); the test fails on any JavaScript error or CSP violation."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.set_default_timeout(15_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    yield page
    await context.close()
    assert errors == [], "the page logged errors"


@pytest.fixture
def screenshot() -> Callable[[Page, str], Awaitable[Path]]:
    """``await screenshot(page, "name")`` saves tests/e2e/screenshots/name.png (gitignored)."""

    async def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await page.screenshot(path=str(path))
        return path

    return take


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the real Rasa server and action server (skipped without .venv-rasa "
                                       "and a trained model, unless DESKMATE_REQUIRE_RASA is set)")


@pytest.fixture(scope="session")
def demo_kb(database_url: str) -> None:
    """The demo knowledge base indexed in the test database (incremental: quick when already there)."""
    env = {**os.environ, "DATABASE_URL": database_url, "DESKMATE_DATA_DIR": str(TEST_DATA_DIR),
           "DESKMATE_LOG_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-m", "api.cli", "kb", "ingest", str(REPO_ROOT / "data" / "kb")], env=env,
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
