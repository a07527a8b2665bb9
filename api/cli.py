"""The ``deskmate`` command: command wiring only; the work is done by the services it calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from api import crypto, db
from api.analytics.cli import analytics_app
from api.auth import service as people
from api.auth.models import Role, TokenInfo
from api.channels.email.cli import mailboxes_app
from api.chat.chat_eval import command as chat_eval_command
from api.cli_helpers import fail, migrate_db, parse_expiry, with_conn
from api.dev import demo, history, replicas, stack, supervisor
from api.dev import directory as demo_directory
from api.dev import imap as demo_imap
from api.dev import mailbox as demo_mailbox
from api.dev.cli import dev_app
from api.errors import DeskmateError, NotFound
from api.improve.cli import improve_app
from api.integrations.sync.cli import sync_app
from api.kb.cli import kb_app
from api.kb.cli import retrieval as kb_retrieval
from api.kb.evaluation import answers_command as kb_answers
from api.retention.cli import purge as retention_purge
from api.settings import REPO_ROOT, Settings, get_settings
from api.web.signin import links as signin_links
from api.workflows.cli import workflows_app

T = TypeVar("T")
app = typer.Typer(help="deskmate: a chatbot-first IT service desk.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")
user_app = typer.Typer(help="People: deactivate.", no_args_is_help=True)
app.add_typer(user_app, name="user")
keys_app = typer.Typer(help="Keys: rotate the encryption key, make new keys (docs/security.md).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
secrets_app = typer.Typer(help="Secrets for configuration: encrypt one (docs/security.md).", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
eval_app = typer.Typer(help="Measure the bot and the knowledge base.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(kb_app, name="kb")
app.add_typer(analytics_app, name="analytics")
app.add_typer(improve_app, name="improve")
app.add_typer(workflows_app, name="workflows")
app.add_typer(mailboxes_app, name="mailboxes")
app.add_typer(sync_app, name="sync")
app.add_typer(dev_app, name="dev")
eval_app.command("retrieval")(kb_retrieval)
eval_app.command("answers")(kb_answers)
eval_app.command("chat")(chat_eval_command)
app.command("purge")(retention_purge)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations (also done automatically when the api starts)."""
    migrate_db(get_settings())


def _seed_demo(settings: Settings) -> str | None:
    """Seeds the demo org once; returns the demo tokens made now (None when it was there already)."""
    migrate_db(settings)
    tokens_file = settings.data_dir / stack.DEMO_TOKENS_FILE
    loaded = with_conn(settings, lambda conn: demo.seed(conn, path=settings.demo_data, tokens_file=tokens_file,
                                                         settings=settings))
    typer.echo("demo data: loaded" if loaded else "demo data: already there")
    return tokens_file.read_text() if loaded and tokens_file.exists() else None


def _seed_history(settings: Settings, weeks: int = history.WEEKS) -> None:
    """Loads the demo history once (never in production); says what it loaded."""
    if settings.env == "production":
        typer.echo("demo history: not in production")
        return
    counts = with_conn(settings, lambda conn: history.seed(conn, weeks=weeks, workflows_dir=settings.workflows_dir))
    typer.echo(f"demo history: {counts['tickets']} tickets, {counts['conversations']} conversations and "
               f"{counts['csat_surveys']} surveys over the last {weeks} weeks" if counts
               else "demo history: already there (or no demo organisation)")


@app.command("seed-history")
def seed_history(weeks: Annotated[int, typer.Option(min=1, max=52, help="how many weeks back")] = history.WEEKS) -> None:
    """Load a few weeks of realistic demo history once (tickets, conversations, resolutions, CSAT) for the analytics."""
    settings = get_settings()
    migrate_db(settings)
    _seed_history(settings, weeks)


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo organisation once (teams, categories, agents with skills, employees; tokens outside production)."""
    _seed_demo(get_settings())


# ---------- tokens and users ----------

@token_app.command("create")
def token_create(
    email: Annotated[str, typer.Option(help="the user's e-mail; created when missing")],
    role: Annotated[Role, typer.Option(help="the user's role")] = Role.employee,
    name: Annotated[str, typer.Option(help="a label for the token")] = "",
    expires_in: Annotated[str | None, typer.Option(
        help="lifetime, e.g. 90d, 12h, 2w; 'never' only for service tokens "
             "(default: DESKMATE_TOKEN_EXPIRY_DAYS, or DESKMATE_SERVICE_TOKEN_EXPIRY_DAYS for services)")] = None,
) -> None:
    """Create an API token (printed once; only its hash is stored)."""
    settings = get_settings()
    expires_at = parse_expiry(expires_in, role=role) if expires_in else people.default_expiry(settings, role)
    migrate_db(settings)
    created = with_conn(settings, lambda conn: people.ensure_user_with_token(
        conn, email=email, role=role, name=name, expires_at=expires_at))
    typer.echo(created.token)
    typer.echo(f"{created.prefix}: " + (f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC" if created.expires_at
                                        else "never expires"), err=True)


@token_app.command("list")
def token_list(
    email: Annotated[str | None, typer.Option(help="only this user's tokens")] = None,
    all_: Annotated[bool, typer.Option("--all", help="include revoked and expired tokens")] = False,
) -> None:
    """List tokens: prefix, owner, expiry, last use (never the token itself)."""
    settings = get_settings()

    async def work(conn: db.Conn) -> list[TokenInfo]:
        user_id = None
        if email is not None:
            user = await people.get_by_email(conn, email=email)
            if user is None:
                raise NotFound(f"No user {email}.")
            user_id = user.id
        return await people.list_tokens(conn, user_id=user_id, live_only=not all_, limit=1000)

    for t in with_conn(settings, work):
        typer.echo(f"{t.id:>6}  {t.prefix:<10} {t.state:<8} {t.email:<32} {t.role:<8} {_when(t.expires_at):<16} "
                   f"last used {_when(t.last_used_at)}  {t.name}")


def _when(at: datetime | None) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}" if at else "-"


@token_app.command("revoke")
def token_revoke(token: Annotated[str, typer.Argument(help="the token's id or prefix (dm_abc123), from token list")]) -> None:
    """Revoke one token; it stops working at once."""
    ref: dict[str, int | str] = {"token_id": int(token)} if token.isdigit() else {"prefix": token}
    revoked = with_conn(get_settings(), lambda conn: people.revoke_token(conn, **ref))  # type: ignore[arg-type]
    typer.echo(f"revoked {revoked.prefix} ({revoked.email})")


@user_app.command("deactivate")
def user_deactivate(email: Annotated[str, typer.Argument(help="the user's e-mail")]) -> None:
    """Deactivate a user: their tokens are revoked, their tickets stay."""
    async def work(conn: db.Conn) -> int:
        user = await people.get_by_email(conn, email=email)
        if user is None:
            raise NotFound(f"No user {email}.")
        tokens = len(await people.list_tokens(conn, user_id=user.id, live_only=True, limit=10_000))
        await people.deactivate_user(conn, user_id=user.id)
        return tokens

    revoked = with_conn(get_settings(), work)
    typer.echo(f"deactivated {email}; {revoked} token{'s' * (revoked != 1)} revoked")


# ---------- keys ----------

@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the newest encryption key (in development, a new one is made first)."""
    settings = get_settings()
    if settings.encryption_keys is None and settings.env != "production":
        crypto.add_dev_key(settings)
        typer.echo(f"new development encryption key in {settings.data_dir / crypto.DEV_KEYS_FILE}")
    migrate_db(settings, quiet=True)
    result = with_conn(settings, lambda conn: crypto.rotate(conn, settings))
    typer.echo(f"secrets: {result.rotated} re-encrypted, {result.current} already under the newest key, "
               f"{result.unreadable} unreadable")
    if result.unreadable:
        fail("some stored secrets cannot be decrypted by any configured key; set them again")


@keys_app.command("new-encryption-key")
def keys_new_encryption_key() -> None:
    """Print a new Fernet key for DESKMATE_ENCRYPTION_KEYS (put it first, then run `deskmate keys rotate`)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@keys_app.command("new-site-key")
def keys_new_site_key(site: Annotated[str, typer.Option(help="the embedding site, e.g. intranet")]) -> None:
    """Print a new widget identity key entry (site:kid:secret) for DESKMATE_WIDGET_SITE_KEYS."""
    import secrets

    typer.echo(f"{site}:{site}-{datetime.now(UTC):%Y%m%d}:{secrets.token_urlsafe(48)}")


@secrets_app.command("encrypt")
def secrets_encrypt() -> None:
    """Read a secret (first line of stdin, or typed without echo) and print its encrypted token, e.g. for
    DESKMATE_LDAP_BIND_PASSWORD_ENCRYPTED. It decrypts under the current encryption keys (docs/security.md)."""
    import getpass
    import sys

    secret = getpass.getpass("secret: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if not secret:
        fail("nothing to encrypt: pass the secret on stdin (e.g. `deskmate secrets encrypt < file`)")
    typer.echo(crypto.encrypt(get_settings(), secret))


# ---------- processes ----------

@eval_app.command("nlu")
def eval_nlu(
    data: Annotated[Path | None, typer.Option(exists=True, dir_okay=False,
                                              help="Rasa NLU YAML (entity markup allowed); omit with --suite")] = None,
    map_: Annotated[Path | None, typer.Option("--map", exists=True, dir_okay=False,
                                              help="YAML map of their labels to ours; null skips a label")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    rasa_url: Annotated[str | None, typer.Option(help="the running Rasa server (default DESKMATE_RASA_URL)")] = None,
    suite: Annotated[bool, typer.Option("--suite", help="the realistic set (all and held-out), a hwu64 sample and "
                                                        "the helpdesk-assistant set, in one table per group")] = False,
    shared_eval: Annotated[Path | None, typer.Option(
        help="the public eval sets (default: shared/eval beside the repo)")] = None,
) -> None:
    """Send examples to the running bot. --suite: IT as IT, non-IT refused, small talk, intent right, per group;
    --data: accuracy, macro-F1, per-intent P/R and fallback rate of one NLU file."""
    from rich.progress import Progress

    from api.chat import nlu_eval
    from api.chat import rasa as rasa_client

    settings = get_settings()
    examples: list[nlu_eval.Example] = []
    if suite:
        sets, skipped = nlu_eval.load_suite(nlu_eval.Sources.default(REPO_ROOT, shared_eval))
        for note in skipped:
            typer.secho(f"skipped {note}", fg=typer.colors.YELLOW, err=True)
        total = sum(len(cases) for cases in sets.values())
    elif data is None:
        fail("give --data FILE (and --map), or --suite")
    else:
        examples = nlu_eval.load_examples(data, nlu_eval.load_map(map_) if map_ else None)
        if not examples:
            fail(f"{data} has no intent examples (after the label map)")
        total = len(examples)
    rasa = rasa_client.from_settings(settings, base_url=rasa_url)

    async def go() -> Any:
        try:
            with Progress(transient=True) as bar:
                task = bar.add_task(f"parsing {total} examples", total=total)
                if suite:
                    return await nlu_eval.run_suite(sets, rasa.parse, lambda: bar.advance(task))
                return await nlu_eval.evaluate(examples, rasa.parse, lambda: bar.advance(task))
        finally:
            await rasa.aclose()

    try:
        result = asyncio.run(go())
    except DeskmateError as exc:
        fail(f"{exc.detail} - is the bot running? (make run, or rasa run --enable-api)")
    if suite:
        report = nlu_eval.suite_report(result)
        typer.echo(nlu_eval.table(report["summaries"]))
        typer.echo(nlu_eval.confusion_lines(report["summaries"]))
    else:
        metrics = result.metrics()
        typer.echo(json.dumps({k: v for k, v in metrics.items() if k not in ("per_intent", "confusions")}, indent=2))
        for label, m in metrics["per_intent"].items():
            typer.echo(f"  {label:<22} P {m['precision']:.2f}  R {m['recall']:.2f}  F1 {m['f1']:.2f}  n={m['support']}")
        report = result.as_dict()
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))
        typer.echo(f"full report: {json_out}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes sharing the port")] = 1,
) -> None:
    """Serve the api with uvicorn (one worker unless --workers; each has its own pool of DESKMATE_DB_POOL_MAX)."""
    import uvicorn

    settings = get_settings()
    port = port or settings.port
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from api.observability import metrics  # /metrics adds up every worker's counts (docs/operations.md)

        metrics.prepare_workers(settings.data_dir / "prometheus" / f"serve-{port}")
    uvicorn.run("api.app:create_app", factory=True, host=host or settings.host, port=port,
                log_config=None, access_log=False, proxy_headers=True, workers=workers)


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


@app.command("signin-link")
def signin_link(email: Annotated[str, typer.Argument(help="the person's e-mail")]) -> None:
    """Print a one-time sign-in link for a person (not mailed; for admins and `make run`)."""
    settings = get_settings()
    typer.echo(with_conn(settings, lambda conn: signin_links.link_for(conn, settings, email=email,
                                                                       base_url=settings.base_url)))


@app.command("db-url")
def db_url() -> None:
    """Print the database URL in use (starting the embedded server if needed)."""
    typer.echo(db.database_url(get_settings()))


@app.command("run")
def run(
    procfile: Annotated[Path, typer.Option(help="the Procfile to start")] = Path("Procfile"),
    restarts: Annotated[int, typer.Option(min=0, help="restarts of a dying process before the run gives up")] = 3,
    restart_backoff: Annotated[float, typer.Option(min=0, help="seconds before the first restart (doubles)")] = 1.0,
    replicas_spec: Annotated[str | None, typer.Option(
        "--replicas", help="copies of Procfile processes, e.g. api=2,rasa=2,worker=2 (docs/operations.md)")] = None,
) -> None:
    """Set up the database, load the demo data once, and start and watch every process of the Procfile."""
    settings = get_settings()
    plan = _replica_plan(settings, REPO_ROOT / procfile, replicas_spec)  # bad input ends the run before any work
    dbs = stack.databases(settings)
    if dbs.embedded_dir:
        typer.echo(f"database: embedded PostgreSQL under {dbs.embedded_dir}")
    os.environ["DATABASE_URL"] = dbs.url
    settings = Settings()
    demo_tokens = _seed_demo(settings)
    _in_child(_seed_demo_kb, settings)  # the embedding model is loaded there, not kept by the run for hours
    _seed_history(settings)  # after the KB: the history's answers cite its articles
    bot_token = with_conn(settings, stack.service_token)
    with contextlib.ExitStack() as started:  # a demo part that fails to start stops those started before it
        desk = _demo_imap(settings, started)
        mail = _demo_mailbox(settings, local={desk.address: desk.deliver} if desk else None)
        if mail:
            started.callback(mail.stop)
        ldap = _demo_directory(settings)
        if ldap:
            started.callback(demo_directory.stop_slapd, ldap.pid)
        env = {**os.environ, **stack.process_env(settings, database_url=dbs.url, tracker_url=dbs.tracker_url,
                                                  bot_token=bot_token), **(ldap.env if ldap else {}),
               **(mail.env if mail else {})}
        desk_lines = demo_imap.summary(desk, smtp_port=mail.port if mail else None) if desk else []
        desk_lines += with_conn(settings, lambda conn: stack.signin_lines(conn, settings))
        typer.echo(stack.banner(settings, demo_tokens=demo_tokens, extra=[*plan.summary(), *desk_lines]))
        code = supervisor.run(plan.commands, envs=plan.envs, env=env, cwd=REPO_ROOT, restarts=restarts,
                              backoff_s=restart_backoff)
    typer.echo("deskmate stopped" + ("" if code == 0 else " because a process died (see above)"))
    raise typer.Exit(code)


def _replica_plan(settings: Settings, procfile: Path, spec: str | None) -> replicas.Plan:
    """The processes to start: the Procfile's, with the copies ``spec`` asks for; a clear error (exit 2) for a
    bad spec, a missing redis-server or a port already taken."""
    processes = supervisor.read_procfile(procfile)
    try:
        counts = replicas.parse(spec, processes=list(processes)) if spec else {}
        redis_password = replicas.redis_password(settings) if counts.get("rasa", 1) > 1 else ""
        plan = replicas.plan(processes, counts, settings=settings, redis_password=redis_password)
        if plan.redis:
            replicas.write_redis_config(plan.redis)
    except replicas.ReplicaError as exc:
        typer.echo(f"deskmate run: --replicas: {exc}", err=True)
        raise typer.Exit(2) from None
    if taken := replicas.taken_ports(plan.ports):
        typer.echo(f"deskmate run: already in use: {', '.join(taken)}; stop what listens there or move the ports "
                   "(DESKMATE_PORT, DESKMATE_RASA_URL, DESKMATE_ACTIONS_PORT, DESKMATE_DEMO_REDIS_PORT)", err=True)
        raise typer.Exit(2)
    return plan


def _start_demo_part(what: str, start: Callable[[], T], error: type[Exception]) -> T:
    """``start()``; its ``error`` (a taken port …) ends ``deskmate run`` with one line saying why."""
    try:
        return start()
    except error as exc:
        typer.echo(f"deskmate run: the {what} did not start: {exc}", err=True)
        raise typer.Exit(1) from None


def _demo_directory(settings: Settings) -> demo_directory.DemoDirectory | None:
    """The demo directory (slapd under the data dir) unless DESKMATE_LDAP_URL names one; says which."""
    if settings.ldap.url:
        typer.echo(f"directory: {settings.ldap.url} (DESKMATE_LDAP_URL)")
        return None
    ldap = _start_demo_part("demo directory", lambda: demo_directory.start(settings), demo_directory.SlapdError)
    typer.echo(f"directory: demo directory (slapd) at {ldap.url}, under {settings.data_dir / 'slapd'}" if ldap
               else demo_directory.NO_DIRECTORY)
    return ldap


def _demo_imap(settings: Settings, started: contextlib.ExitStack) -> demo_imap.DemoImap | None:
    """The demo desk mailbox (Dovecot under the data dir, saved as the ``demo-helpdesk`` mailbox) while no
    mailbox of your own is configured, stopped with ``started``; says which."""
    own = with_conn(settings, demo_imap.own_mailboxes)
    desk = None if own else _start_demo_part("demo desk mailbox", lambda: demo_imap.start(settings),
                                             demo_imap.DemoImapError)
    if desk is None:  # nothing polls a demo mailbox that is not there
        with_conn(settings, lambda conn: demo_imap.disable(conn, settings))
        typer.echo(f"desk mailbox: {', '.join(own)} (deskmate mailboxes list)" if own else demo_imap.NO_DOVECOT)
        return None
    started.callback(desk.stop)
    with_conn(settings, lambda conn: demo_imap.seed(conn, settings, imap=desk))
    typer.echo(f"desk mailbox: demo Dovecot at imap://127.0.0.1:{desk.port} for {desk.address}, under "
               f"{desk.directory} (mailbox {demo_imap.MAILBOX_NAME!r})")
    return desk


def _demo_mailbox(settings: Settings, *, local: dict[str, Callable[[bytes], None]] | None = None,
                  ) -> demo_mailbox.DemoMailbox | None:
    """The demo mailbox (an SMTP server on loopback that prints what it gets) unless DESKMATE_SMTP_HOST names one;
    mail to an address of ``local`` also goes to that inbox."""
    if settings.smtp.host:
        typer.echo(f"mailbox: {settings.smtp.host} (DESKMATE_SMTP_HOST)")
        return None
    mail = _start_demo_part("demo mailbox", lambda: demo_mailbox.start(
        settings, echo=lambda line: typer.echo(f"mail    | {line}"), local=local), demo_mailbox.MailboxError)
    typer.echo(f"mailbox: demo mailbox at smtp://127.0.0.1:{mail.port}: every e-mail is printed here as `mail | …` "
               f"and kept in {mail.directory}" if mail else demo_mailbox.NO_MAILBOX)
    return mail


def _in_child(step: Callable[[Settings], None], settings: Settings) -> None:
    """Runs ``step(settings)`` in a fresh process and waits for it: what it loads (the embedding model, ~700 MB)
    goes when it ends instead of staying in ``deskmate run``'s supervisor for the life of the stack."""
    child = multiprocessing.get_context("spawn").Process(target=step, args=(settings,), name=step.__name__)
    child.start()
    child.join()
    if child.exitcode != 0:
        typer.echo(f"deskmate run: {step.__name__.strip('_').replace('_', ' ')} failed (exit {child.exitcode}, "
                   "see above)", err=True)
        raise typer.Exit(1)


def _seed_demo_kb(settings: Settings) -> None:
    """Seeds the demo KB in a child process (``deskmate kb seed-demo``): the embedding model it loads leaves with it
    instead of staying in this supervisor for the life of the stack."""
    if not settings.kb_dir.is_dir():
        return
    if subprocess.run([sys.executable, "-m", "api.cli", "kb", "seed-demo"], check=False).returncode:
        fail("demo knowledge base: seeding failed (see above)")


if __name__ == "__main__":
    app()
