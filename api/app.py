"""create_app(): the FastAPI application with every domain's router mounted under /api/v1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import psycopg_pool
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import kb_index
from api import db, jobs, migrate
from api.alerts.routes import notifications as notifications_router
from api.alerts.routes import router as alerts_router
from api.analytics.pages import router as analytics_pages_router
from api.analytics.routes import router as analytics_router
from api.auth.routes import router as people_router
from api.channels.email.routes import router as mailboxes_router
from api.channels.email.routes import ticket_files as email_files_router
from api.channels.slack.inbound import SlackChannel
from api.channels.slack.routes import router as slack_router
from api.channels.teams.routes import router as teams_router
from api.channels.teams.service import TeamsChannel
from api.channels.web.routes import router as web_channel_router
from api.chat import rasa as rasa_client
from api.chat.routes import nlu as nlu_router
from api.chat.routes import router as chat_router
from api.csat.routes import page as csat_page_router
from api.csat.routes import router as csat_router
from api.errors import PROBLEM_JSON, DatabaseUnavailable, DeskmateError, problem
from api.errors import responses as problem_responses
from api.improve import served_hints
from api.improve.routes import router as improve_router
from api.incidents.routes import router as incidents_router
from api.integrations.sync.routes import router as sync_router
from api.kb import embedding
from api.kb import service as kb_service
from api.kb.routes import router as kb_router
from api.log import configure as configure_logging
from api.middleware import BodyLimit, RequestContext, TextGuard
from api.observability.middleware import Observe
from api.observability.routes import router as metrics_router
from api.routing.routes import router as routing_router
from api.settings import Settings, get_settings
from api.sla.routes import router as sla_router
from api.stepup.routes import router as stepup_router
from api.tickets.routes import categories as categories_router
from api.tickets.routes import router as tickets_router
from api.triage.routes import router as triage_router
from api.web import pages
from api.web.admin import alerts as admin_alerts
from api.web.admin import kb as admin_kb
from api.web.admin import people as admin_people
from api.web.admin import router as admin_router
from api.web.admin import routing as admin_routing
from api.web.admin import sla as admin_sla
from api.web.admin import workflows as admin_workflows
from api.web.console.routes import router as console_router
from api.web.portal.routes import router as portal_router
from api.web.routes import router as web_router
from api.web.signin.oidc import OidcProvider
from api.web.signin.routes import router as signin_router
from api.workflows import catalog as workflow_catalog
from api.workflows import runtime as workflow_runtime
from api.workflows import software
from api.workflows.approval_routes import router as approvals_router
from api.workflows.routes import router as workflows_router

log = logging.getLogger(__name__)
# What a dead or restarting database raises: a lost or refused connection, or no pooled connection in time.
DATABASE_DOWN = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeskmateError)
    async def deskmate_error(request: Request, exc: DeskmateError) -> Response:
        if exc.status >= 500:
            log.error("request failed", extra={"error": exc.detail, "kind": type(exc).__name__})
        return pages.error_page(request, exc) if pages.wants_page(request) else exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
        return problem(422, "The request is not valid", where, "/problems/validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), headers=exc.headers)

    async def database_down(_: Request, exc: Exception) -> Response:
        log.warning("database unavailable", extra={"kind": type(exc).__name__})
        return DatabaseUnavailable("The database is not answering right now; nothing was changed. "
                                   "Retry after the time in Retry-After.").response()

    for kind in DATABASE_DOWN:
        app.add_exception_handler(kind, database_down)

    @app.exception_handler(psycopg.DataError)
    async def unstorable(_: Request, exc: psycopg.DataError) -> Response:
        """Postgres refused a value the request carried (a number past bigint, an impossible time zone)."""
        log.warning("value refused by the database", extra={"error": str(exc).splitlines()[0]})
        return problem(422, "The request is not valid", "A value in the request is out of the range the service "
                       "can store or is malformed.", "/problems/validation")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal error", "Something went wrong on our side; the request id identifies it in the logs.")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    url = await asyncio.to_thread(db.database_url, settings)
    if settings.auto_migrate:
        applied = await asyncio.to_thread(migrate.migrate, url, settings.migrations_dir)
        if applied:
            log.info("migrations applied", extra={"applied": applied})
    pool = db.make_pool(url, min_size=settings.db_pool_min, max_size=settings.db_pool_max,
                        configure=kb_index.register, timeout=settings.db_acquire_timeout_s)
    await pool.open(wait=True, timeout=30)
    app.state.pool = pool
    async with pool.connection() as conn:  # the definitions of data/workflows, validated and stored by version
        await workflow_catalog.sync(conn, [w.workflow for w in workflow_catalog.load_dir(settings.workflows_dir)])
    software.load(software.path(settings))  # the software catalogue validates, or the api does not start
    app.state.rasa = rasa_client.from_settings(settings)
    if app.state.slack is not None:  # Socket Mode connects now, when configured
        await app.state.slack.start()
    app.state.database_url = url
    app.state.teams = TeamsChannel(settings.teams) if settings.teams.configured else None  # Teams turns run here
    app.state.jobs = jobs.open_queue(settings)  # the job queue's App; ticket changes queue triage per settings
    hinter = app.state.rasa.hinter
    following = None
    if hinter is not None and hinter.enabled:  # fitted on the promoted model's examples too, from the first turn
        await served_hints.refresh(pool, hinter, timeout_s=settings.db_acquire_timeout_s)
        following = asyncio.create_task(served_hints.keep_following(
            pool, hinter, every_s=settings.nlu_hints_refresh_s, timeout_s=settings.db_acquire_timeout_s))
    if hinter is not None:  # every chat turn embeds its text: load the hints and the model now
        hinter.warm_up()
    if settings.kb_preload_model:  # load the embedding model now, not on the first question
        app.state.embedder.warm_up()
    try:
        yield
    finally:
        if following is not None:
            following.cancel()
        if app.state.slack is not None:  # the Slack turns under way finish first
            await app.state.slack.close()
        if app.state.teams is not None:  # the Teams turns still running finish first
            await app.state.teams.aclose()
        await app.state.rasa.aclose()
        await workflow_runtime.close_default()  # the directory connector's connections, if runs used it
        jobs.close_queue(app.state.jobs)
        await pool.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = FastAPI(
        title="deskmate", version="0.1.0", lifespan=lifespan,
        description="Chatbot-first IT service desk. Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.settings = settings
    app.state.embedder = embedding.get_embedder(settings)  # the model loads on first use
    app.state.kb_embedder, app.state.kb_intents = kb_service.kb_state(settings)  # the KB's model, the intent map
    app.state.llm = kb_service.llm_from_settings(settings)
    app.state.slack = SlackChannel(settings, app.state) if settings.slack.configured else None
    app.state.oidc = OidcProvider(settings.oidc) if settings.oidc.configured else None  # web sign-in (api/web/signin)
    _install_error_handlers(app)
    v1 = APIRouter(prefix="/api/v1", responses=problem_responses())
    for router in (people_router, tickets_router, categories_router, chat_router, nlu_router, kb_router,
                   web_channel_router, routing_router, sla_router, triage_router, alerts_router,
                   notifications_router, incidents_router, improve_router, stepup_router,
                   approvals_router, workflows_router,  # approvals first: /workflows/{name} would take its paths
                   mailboxes_router, email_files_router, sync_router, csat_router, analytics_router):
        v1.include_router(router)
    app.include_router(v1)
    app.include_router(health_router)
    app.include_router(metrics_router, responses=problem_responses())  # /metrics: Prometheus, with its token
    app.include_router(slack_router)  # Slack's Request URLs: /slack/events, /slack/interactions
    app.include_router(teams_router, responses=problem_responses())  # the Azure Bot's messaging endpoint
    app.include_router(csat_page_router, responses=problem_responses())  # /csat/{token}: the e-mail's rating links
    app.include_router(web_router)  # widget assets and the demo page: root paths, no auth
    app.include_router(signin_router)  # sign-in and sign-out: root paths, session cookie
    app.include_router(analytics_pages_router)  # /console/analytics: session cookie, staff only
    app.include_router(console_router)  # the agent console (api/web/console): session cookie
    for admin_page in (admin_router, admin_routing.router, admin_sla.router, admin_people.router, admin_alerts.router,
                       admin_kb.router, admin_workflows.router):
        app.include_router(admin_page)  # the console's admin pages (api/web/admin): session cookie, roles per page
    app.include_router(portal_router)  # the employee portal (/me) and its web-app files: root paths, session cookie
    app.add_middleware(TextGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "X-Chat-Session", "Authorization", "Idempotency-Key"],
                           expose_headers=["Retry-After", "X-Request-ID"], max_age=600)
    app.add_middleware(RequestContext)
    app.add_middleware(Observe)  # outermost: the trace id is set for every log line, the access log's too
    return app


health_router = APIRouter(tags=["operations"])


@health_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


NOT_READY = {503: {"description": "Not ready (database down or migrations pending)",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}}


@health_router.get("/readyz", responses=NOT_READY)  # type: ignore[arg-type]
async def readyz(request: Request) -> Response:
    """The database answers, every migration file is applied unchanged, and the chat's intent hints are loaded."""
    settings: Settings = request.app.state.settings
    try:
        async with request.app.state.pool.connection(timeout=settings.db_acquire_timeout_s) as conn:
            await conn.execute("SELECT 1")
        todo = await asyncio.to_thread(migrate.pending, request.app.state.database_url, settings.migrations_dir)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the details go to the log only
        log.warning("not ready: the database does not answer", extra={"kind": type(exc).__name__, "error": str(exc)})
        return problem(503, "Not ready", "The database does not answer.", "/problems/not-ready",
                       headers={"Retry-After": str(DatabaseUnavailable.retry_after_s)})
    if todo:
        return problem(503, "Not ready", f"{len(todo)} migration(s) pending: {todo[0].path.name}…", "/problems/not-ready",
                       headers={"Retry-After": "30"})
    hinter = request.app.state.rasa.hinter
    if hinter is not None and not hinter.ready:  # chat turns would wait for the model: not yet
        return problem(503, "Not ready", "The intent hints are still loading.", "/problems/not-ready",
                       headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready"})
