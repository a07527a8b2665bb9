"""Demo data, loaded once: the organisation (data/demo/org.yml), its triage setup (data/demo/routing.yml)
and the demo knowledge base (data/kb).

Each part is seeded once and never again: the org when no team exists yet, the KB when the database has
no record of having seeded it (``dev_seeds``), so admin edits, unpublishes and deletes of demo articles
survive every later ``deskmate run``. Demo API tokens are made only while the org is seeded, and never
in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import kb_index
from api import keyfile, sql
from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth import service as people
from api.auth.models import TeamCreate, UserCreate
from api.db import Conn
from api.routing import rules
from api.routing import shifts as routing_shifts
from api.routing.models import RuleIn, ShiftIn
from api.settings import Settings, get_settings
from api.sla import policies
from api.sla.models import CalendarIn, PolicyIn
from api.tickets import service as tickets
from api.tickets.models import CategoryCreate

log = logging.getLogger(__name__)
Q = sql.load("api.dev")
Q_ROUTING = sql.load("api.routing")
KB_SEED = "demo-kb"


async def seed(conn: Conn, *, path: Path, tokens_file: Path, settings: Settings | None = None) -> bool:
    """Loads the demo org in one transaction unless teams exist; returns whether it loaded anything.

    Demo tokens (``demo_tokens`` in org.yml) are created and written to ``tokens_file`` only here, and
    only outside production.
    """
    settings = settings or get_settings()
    org: dict[str, Any] = yaml.safe_load(path.read_text())
    existing = {t.slug for t in await people.list_teams(conn)}
    if existing:
        return False
    async with conn.transaction():
        for team in org["teams"]:
            await people.create_team(conn, data=TeamCreate(**team))
        for category in org["categories"]:
            await tickets.create_category(conn, data=CategoryCreate(**category))
        for person in org["people"]:
            await people.create_user(conn, data=UserCreate(
                **{k: v for k, v in person.items() if k not in ("teams",)}, team_slugs=person.get("teams", [])))
        if (triage := path.with_name("routing.yml")).exists():  # calendars, SLAs, rules, alerts (docs/triage.md)
            await seed_triage(conn, path=triage, settings=settings)
        lines = [] if settings.env == "production" else await _demo_tokens(conn, org, settings)
    if lines:
        keyfile.replace_secret(tokens_file, "".join(lines))
    log.info("demo organisation loaded", extra={"people": len(org["people"]), "teams": len(org["teams"])})
    return True


async def _demo_tokens(conn: Conn, org: dict[str, Any], settings: Settings) -> list[str]:
    lines = []
    for email in org.get("demo_tokens", []):
        user = await people.get_by_email(conn, email=email)
        assert user is not None
        created = await people.create_token(conn, user=user, name="demo",
                                            expires_at=people.default_expiry(settings, user.role))
        lines.append(f"# {user.name} ({user.role})\nDESKMATE_TOKEN_{user.role.upper()}={created.token}\n")
    return lines


async def _user_id(conn: Conn, email: str) -> int:
    user = await people.get_by_email(conn, email=email)
    if user is None:
        raise ValueError(f"routing.yml names {email}, who is not in the demo organisation")
    return user.id


async def seed_triage(conn: Conn, *, path: Path, settings: Settings | None = None) -> dict[str, int]:
    """Loads the demo triage setup (calendars, SLA policies, intents, examples, routing rules, shifts,
    phone numbers, alert rules) from ``path``; returns how many of each thing it loaded."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    settings = settings or get_settings()
    for calendar in data.get("calendars", []):
        teams = calendar.pop("teams", [])
        await policies.put_calendar(conn, data=CalendarIn(**calendar))
        for team in teams:
            await policies.set_team_calendar(conn, team=team, calendar=calendar["slug"])
    for policy in data.get("sla_policies", []):
        await policies.create_policy(conn, data=PolicyIn(**policy))
    for intent, category in data.get("intents", {}).items():
        await conn.execute(Q_ROUTING.set_intent_category, {"intent": intent, "category": category})
    examples = [(c, text) for c, texts in data.get("examples", {}).items() for text in texts]
    for category, text in examples:
        await conn.execute(Q_ROUTING.insert_seed_example, {"category": category, "text": text, "created_by": None})
    for rule in data.get("routing_rules", []):
        await rules.create_rule(conn, data=RuleIn(**rule))
    for email, shifts in data.get("shifts", {}).items():
        await routing_shifts.replace_shifts(conn, user_id=await _user_id(conn, email), shifts=[ShiftIn(**s) for s in shifts])
    for email, phone in data.get("phones", {}).items():
        await people.set_phone(conn, user_id=await _user_id(conn, email), phone=phone)
    admin = await people.get_by_email(conn, email="admin@example.com")
    for rule in data.get("alert_rules", []):
        await alerts.create_rule(conn, data=AlertRuleIn(**rule), settings=settings, actor_id=admin.id if admin else None)
    return {"calendars": len(data.get("calendars", [])), "sla_policies": len(data.get("sla_policies", [])),
            "examples": len(examples), "routing_rules": len(data.get("routing_rules", [])),
            "alert_rules": len(data.get("alert_rules", []))}


async def seed_kb(conn: Conn, *, kb_dir: Path, embedder: kb_index.Embedder,
                  on_progress: Callable[[int, int], None] | None = None) -> kb_index.IngestReport | None:
    """Ingests the demo articles under ``kb_dir`` the first time only; None when they were seeded before.

    Later edits, unpublishes and deletes by an admin are therefore never reverted by a restart; to
    re-ingest the files on purpose, run ``deskmate kb ingest data/kb``.
    """
    if await (await conn.execute(Q.get_seed, {"name": KB_SEED})).fetchone() is not None:
        return None
    articles = kb_index.load_dir(kb_dir)
    report = await kb_index.ingest(conn, embedder, articles, prune_under=None, on_progress=on_progress)
    await conn.execute(Q.mark_seeded, {"name": KB_SEED})
    return report
