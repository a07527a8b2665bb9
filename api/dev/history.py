"""A few weeks of realistic desk history for the demo organisation, loaded once, so the analytics (docs/analytics.md)
have something to show on the first look: tickets from every source across the demo's categories and teams, their
audit trails and SLA clocks (some breached, a few reopened), the conversations around them with the intents, answers
and workflow runs the analytics read, and satisfaction surveys of the bot's and the people's resolutions.

api/dev/history_plan.py draws the plan with a seeded random generator; it is COPYed into two temporary tables and
history.sql writes the rows the services would have written, set-based (seconds for the demo; bench/console.py loads
a million tickets the same way). The ticket service is not used: it would queue triage, sync, alert and survey jobs
for things that happened weeks ago. Nothing here queues anything.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql as pgsql

import kb_index
from api import sql
from api.analytics import rollups
from api.db import Conn
from api.dev import history_text as text
from api.dev.history_plan import (
    FOLLOW_UP_INTENTS,
    FOLLOW_UP_TEXTS,
    Chunk,
    Org,
    Planner,
    Timeline,
    message_counts,
    opening_times,
    timestamp,
)
from api.sla import policies
from api.workflows import catalog as workflow_catalog

log = logging.getLogger(__name__)
Q = sql.load("api.dev", "history.sql")
QD = sql.load("api.dev")
HISTORY_SEED = "demo-history"
WEEKS = 4
SEED = 14
TICKETS_PER_WEEK = 200
MESSAGES_PER_TICKET = 6
CHUNK = 20_000
TICKET_COLUMNS = (
    "id", "type", "title", "description", "category_id", "team_id", "first_team_id", "source_type", "source_reference",
    "requester_id", "creator_id", "assignee_id", "resolver_id", "urgency", "impact", "priority", "status", "resolution",
    "conversation_id", "workflow", "workflow_run_id", "created_at", "moved_at", "assigned_at", "started_at",
    "pending_at", "resumed_at", "first_resolved_at", "reopened_at", "resolved_at", "closed_at", "policy_id",
    "calendar_id", "respond_target_s", "resolve_target_s", "warn_ratio", "paused_business_s", "respond_due_at",
    "resolve_due_at", "respond_warn_at", "resolve_warn_at", "respond_warned_at", "respond_breached_at",
    "resolve_warned_at", "resolve_breached_at", "csat_by", "csat_channel", "csat_asked_at", "csat_answered_at",
    "csat_score")
CONVERSATION_COLUMNS = (
    "id", "employee_id", "channel", "client", "created_at", "messages", "outcome", "intent", "confidence", "opening",
    "ticket_id", "ticket_number", "answer_id", "answer_confident", "answer_helpful", "article_id", "workflow",
    "workflow_run_id", "definition_id")
TIMES = {c for c in TICKET_COLUMNS if c.endswith("_at")}
TEXTS = {"follow_ups": FOLLOW_UP_TEXTS, "follow_up_intents": FOLLOW_UP_INTENTS, "asks": text.BOT_ASKS,
         "thanks": text.THANKS[0], "thanks_intent": text.THANKS[1],
         "ticket": text.BOT_TICKET, "workflow": text.BOT_WORKFLOW, "answer": text.BOT_ANSWER, "open": text.BOT_OPEN}
# What each statement writes, in order (rowcounts are summed into the report under these names).
STATEMENTS = (("tickets", Q.insert_tickets), ("ticket_events", Q.insert_ticket_events),
              ("ticket_sla", Q.insert_ticket_sla), ("conversations", Q.insert_conversations),
              ("kb_answers", Q.insert_kb_answers), ("kb_feedback", Q.insert_kb_feedback),
              ("messages", Q.insert_messages), ("chat_tickets", Q.insert_chat_tickets),
              ("workflow_runs", Q.insert_workflow_runs), ("csat_surveys", Q.insert_surveys))


async def seed(conn: Conn, *, weeks: int = WEEKS, workflows_dir: Path | None = None) -> dict[str, int] | None:
    """Loads ``weeks`` of history up to now, once; None when it was loaded before (or there is no demo org).

    ``workflows_dir``: the workflow definitions to store first (as the api does when it starts), so the bot's
    workflow runs have a definition on a first start.
    """
    if await (await conn.execute(QD.get_seed, {"name": HISTORY_SEED})).fetchone() is not None:
        return None
    if workflows_dir is not None:
        await sync_workflows(conn, workflows_dir)
    now = (await (await conn.execute(Q.db_now)).fetchone())["now"]  # type: ignore[index]
    tickets = TICKETS_PER_WEEK * weeks
    async with conn.transaction():
        counts = await generate(conn, start=now - timedelta(weeks=weeks), end=now, tickets=tickets,
                                messages=tickets * MESSAGES_PER_TICKET)
        if counts is None:
            return None
        await conn.execute(QD.mark_seeded, {"name": HISTORY_SEED})
    await rollups.refresh(conn)  # the analytics read the history from the rollups, as on a real desk
    log.info("demo history loaded", extra=counts)
    return counts


async def sync_workflows(conn: Conn, directory: Path) -> None:
    """Stores the workflow definitions of ``directory`` (as the api does when it starts): the bot's runs cite them."""
    await workflow_catalog.sync(conn, [w.workflow for w in workflow_catalog.load_dir(directory)])


async def load_org(conn: Conn, *, start: datetime, end: datetime) -> Org | None:
    """The demo organisation as the plan needs it; None without employees, agents or categories."""
    people = await (await conn.execute(Q.demo_people)).fetchall()
    agents: dict[int, list[int]] = defaultdict(list)
    for p in people:
        for team in p["team_ids"] if p["role"] == "agent" else ():
            agents[team].append(p["id"])
    employees = [p["id"] for p in people if p["role"] == "employee"]
    categories = {r["slug"]: (r["id"], r["default_team_id"]) for r in await (await conn.execute(Q.demo_categories))
                  .fetchall() if r["default_team_id"] is not None}
    bot = await (await conn.execute(Q.workflow_user)).fetchone()
    if not employees or not agents or bot is None or set(text.ISSUES) - set(categories):
        return None
    calendars = {}
    for team in {t for _, t in categories.values()}:
        cal_id, cal = await policies.calendar_for_team(conn, team_id=team)
        calendars[team] = (cal_id, Timeline(cal, start - timedelta(days=2), end + timedelta(days=120)))
    articles: dict[str | None, list[str]] = defaultdict(list)
    for a in await (await conn.execute(Q.demo_articles)).fetchall():
        articles[a["category"]].append(a["id"])
        articles[None].append(a["id"])
    workflows = {r["name"]: r["definition_id"] for r in await (await conn.execute(
        Q.demo_workflows, {"names": list(text.WORKFLOWS)})).fetchall()}
    return Org(employees=employees, emails={p["id"]: p["email"] for p in people}, agents=dict(agents),
               categories=categories, workflows=workflows, bot_id=bot["id"], articles=dict(articles),
               policies={(p["priority"], p["team_id"]): p for p in await (await conn.execute(Q.demo_policies)).fetchall()},
               calendars=calendars)


async def generate(conn: Conn, *, start: datetime, end: datetime, tickets: int, messages: int, seed: int = SEED,
                   chunk: int = CHUNK, on_progress: Callable[[int, int], None] | None = None) -> dict[str, int] | None:
    """Writes ``tickets`` tickets opened in [start, end) and about ``messages`` chat messages around them, in
    chunks of ``chunk`` tickets (one transaction each); returns the rows written per table, None without a demo org.

    ``on_progress(tickets done, tickets)`` is called after each chunk. The same seed writes the same history.
    """
    org = await load_org(conn, start=start, end=end)
    if org is None:
        log.warning("no demo organisation (employees, agents, categories, the workflows user): no history")
        return None
    rng = random.Random(seed)
    planner = Planner(rng, org, end.timestamp())
    times, kinds = opening_times(rng, start=start, end=end, n=tickets), planner.kinds(tickets)
    slices = [range(lo, min(lo + chunk, tickets)) for lo in range(0, tickets, chunk)]
    conversations = sum(planner.conversations_for(kinds[s.start:s.stop]) for s in slices)
    counts: dict[str, int] = dict.fromkeys([name for name, _ in STATEMENTS], 0)
    await conn.execute(Q.create_staging)
    for part in slices:
        async with conn.transaction():
            first, n = await _reserve(conn, "tickets", len(part)), len(part)
            plan = planner.chunk(list(range(first, first + n)), times[part.start:part.stop], kinds[part.start:part.stop],
                                 first_answer=await _reserve(conn, "kb_answers", n),
                                 first_run=await _reserve(conn, "workflow_runs", n))
            target = round(messages * (counts["conversations"] + len(plan.conversations)) / max(conversations, 1))
            lengths = message_counts(rng, len(plan.conversations), max(target - counts["messages"], 0))
            for conv, length in zip(plan.conversations, lengths, strict=True):
                conv["messages"] = length
            for name, rows in (await _load(conn, plan)).items():
                counts[name] += rows
        if on_progress:
            on_progress(part.stop, tickets)
    for row in await (await conn.execute(Q.article_views)).fetchall():
        await kb_index.count_view(conn, article_id=row["article_id"], times=row["n"])
    return counts


async def _reserve(conn: Conn, table: str, n: int) -> int:
    return int((await (await conn.execute(Q.reserve_ids, {"table": table, "n": max(n, 1)})).fetchone())["first"])  # type: ignore[index]


async def _copy(conn: Conn, table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    statement = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
        pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns)))
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row([timestamp(row[c]) if c in TIMES else row[c] for c in columns])


async def _load(conn: Conn, plan: Chunk) -> dict[str, int]:
    """The chunk's plan into the staging tables, then every table from them; the rows written per table."""
    await conn.execute(Q.clear_staging)
    await _copy(conn, "history_tickets", TICKET_COLUMNS, plan.tickets)
    await _copy(conn, "history_conversations", CONVERSATION_COLUMNS, plan.conversations)
    written = {}
    for name, statement in STATEMENTS:
        written[name] = (await conn.execute(statement, TEXTS)).rowcount
    return written
