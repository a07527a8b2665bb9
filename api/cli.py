"""The ``deskmate`` command: run the stack, migrate, seed, manage tokens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import psycopg
import typer
from psycopg.rows import dict_row

from api import db, demo, embedded_pg, migrate, stack
from api.auth import service as people
from api.auth.models import Role
from api.errors import DeskmateError
from api.kb.cli import ingest as kb_ingest
from api.kb.cli import kb_app
from api.kb.cli import retrieval as kb_retrieval
from api.retention.cli import purge as retention_purge
from api.settings import REPO_ROOT, Settings, get_settings

app = typer.Typer(help="deskmate: a chatbot-first IT service desk.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
eval_app = typer.Typer(help="Measure the bot and the knowledge base.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(kb_app, name="kb")
eval_app.command("retrieval")(kb_retrieval)
app.command("purge")(retention_purge)
T = TypeVar("T")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _with_conn(settings: Settings, work: Callable[[db.Conn], Awaitable[T]]) -> T:
    async def go() -> T:
        url = db.database_url(settings)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await work(conn)

    try:
        return asyncio.run(go())
    except DeskmateError as exc:
        _fail(exc.detail)
        raise  # unreachable


def _migrate(settings: Settings) -> None:
    try:
        applied = migrate.migrate(db.database_url(settings), settings.migrations_dir)
    except DeskmateError as exc:
        _fail(exc.detail)
    else:
        typer.echo(f"migrations: {len(applied)} applied" + (f" ({', '.join(applied)})" if applied else ", up to date"))


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations (also done automatically when the api starts)."""
    _migrate(get_settings())


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo organisation once (teams, categories, agents with skills, employees, tokens)."""
    settings = get_settings()
    _migrate(settings)
    tokens_file = settings.data_dir / "demo-tokens.env"
    loaded = _with_conn(settings, lambda conn: demo.seed(conn, path=settings.demo_data, tokens_file=tokens_file))
    typer.echo("demo data: loaded" if loaded else "demo data: already there")


@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="the user's e-mail; created when missing")],
    role: Annotated[Role, typer.Option(help="the user's role")] = Role.employee,
    name: Annotated[str, typer.Option(help="a label for the token")] = "",
) -> None:
    """Create an API token (printed once; only its hash is stored)."""
    settings = get_settings()
    _migrate(settings)
    created = _with_conn(settings, lambda conn: people.ensure_user_with_token(conn, email=email, role=role, name=name))
    typer.echo(created.token)


@eval_app.command("nlu")
def eval_nlu(
    data: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Rasa NLU YAML (entity markup allowed)")],
    map_: Annotated[Path | None, typer.Option("--map", exists=True, dir_okay=False,
                                              help="YAML map of their labels to ours; null skips a label")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    rasa_url: Annotated[str | None, typer.Option(help="the running Rasa server (default DESKMATE_RASA_URL)")] = None,
) -> None:
    """Send every example to the running bot; report accuracy, macro-F1, per-intent P/R and fallback rate."""
    from rich.progress import Progress

    from api.chat import nlu_eval
    from api.chat.rasa import RasaClient

    settings = get_settings()
    examples = nlu_eval.load_examples(data, nlu_eval.load_map(map_) if map_ else None)
    if not examples:
        _fail(f"{data} has no intent examples (after the label map)")
    rasa = RasaClient(rasa_url or settings.rasa_url, token=stack.rasa_token(settings), timeout_s=settings.rasa_timeout_s)

    async def go() -> nlu_eval.Report:
        try:
            with Progress(transient=True) as bar:
                task = bar.add_task(f"parsing {len(examples)} examples", total=len(examples))
                return await nlu_eval.evaluate(examples, rasa.parse, lambda: bar.advance(task))
        finally:
            await rasa.aclose()

    try:
        report = asyncio.run(go())
    except DeskmateError as exc:
        _fail(f"{exc.detail} - is the bot running? (make run, or rasa run --enable-api)")
        raise
    metrics = report.metrics()
    typer.echo(json.dumps({k: v for k, v in metrics.items() if k not in ("per_intent", "confusions")}, indent=2))
    for label, m in metrics["per_intent"].items():
        typer.echo(f"  {label:<22} P {m['precision']:.2f}  R {m['recall']:.2f}  F1 {m['f1']:.2f}  n={m['support']}")
    if json_out:
        json_out.write_text(json.dumps(report.as_dict(), indent=2))
        typer.echo(f"full report: {json_out}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the api with uvicorn (one worker)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host, port=port or settings.port,
                log_config=None, access_log=False, proxy_headers=True)


@app.command("worker")
def worker(
    queue: Annotated[list[str] | None, typer.Option(help="a queue to work on (repeatable); default: all")] = None,
    concurrency: Annotated[int | None, typer.Option(help="jobs run at once (DESKMATE_WORKER_CONCURRENCY)")] = None,
    burst: Annotated[bool, typer.Option(help="process the jobs due now, then exit")] = False,
) -> None:
    """Run background jobs: triage, alert deliveries, SLA timers (durable, retried, crash-safe)."""
    from api.jobs import worker as jobs_worker
    from api.log import configure as configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    asyncio.run(jobs_worker.run(settings, queues=queue, concurrency=concurrency, wait=not burst))


@app.command("db-url")
def db_url() -> None:
    """Print the database URL in use (starting the embedded server if needed)."""
    typer.echo(db.database_url(get_settings()))


@app.command("run")
def run(procfile: Annotated[str, typer.Option(help="the Procfile to start")] = "Procfile") -> None:
    """Set up the database, load the demo data once, and start every process of the Procfile."""
    settings = get_settings()
    url = settings.database_url.get_secret_value() if settings.database_url else None
    tracker_url = url
    if url is None:
        typer.echo(f"database: embedded PostgreSQL under {settings.data_dir / 'pgdata'}")
        server, url = embedded_pg.start(settings.data_dir)
        embedded_pg.ensure_database(server.get_uri(), stack.RASA_DATABASE)
        tracker_url = server.get_uri(stack.RASA_DATABASE)
    os.environ["DATABASE_URL"] = url
    settings = Settings()
    seed_demo()
    if settings.kb_dir.is_dir():
        kb_ingest(settings.kb_dir)
    bot_token = _with_conn(settings, stack.service_token)
    env = {**os.environ, **stack.process_env(settings, database_url=url, tracker_url=tracker_url or url,
                                              bot_token=bot_token)}
    _banner(settings)
    honcho = [sys.executable, "-m", "honcho", "start", "-f", str(REPO_ROOT / procfile), "-d", str(REPO_ROOT)]
    proc = subprocess.Popen(honcho, env=env)
    signal.signal(signal.SIGINT, lambda *_: proc.send_signal(signal.SIGINT))
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    code = proc.wait()
    typer.echo("deskmate stopped" + ("" if code in (0, -2, 130) else f" (exit {code})"))


def _banner(settings: Settings) -> None:
    tokens = settings.data_dir / "demo-tokens.env"
    lines: list[Any] = [
        "",
        f"deskmate is starting at {settings.base_url}",
        f"  chat widget: {settings.base_url}/   (the assistant answers once Rasa has loaded, ~1-2 minutes)",
        f"  API docs:    {settings.base_url}/docs",
        f"  health:      {settings.base_url}/readyz",
        f"  log in with a demo token (Authorization: Bearer …), from {tokens}:",
    ]
    if tokens.exists():
        lines += [f"    {line}" for line in tokens.read_text().splitlines() if line and not line.startswith("#")]
    lines += ["  new token:   .venv/bin/deskmate token create --email you@example.com --role admin",
              "  stop:        Ctrl-C", ""]
    typer.echo("\n".join(lines))


if __name__ == "__main__":
    app()
