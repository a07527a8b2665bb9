"""Loads the demo triage setup (data/demo/routing.yml): calendars, SLA policies, intents, examples,
routing rules, shifts, phone numbers and alert rules. Called by api.demo.seed inside its transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from api import sql
from api.alerts import service as alerts
from api.alerts.models import AlertRuleIn
from api.auth import service as people
from api.db import Conn
from api.routing import service as routing
from api.routing.models import RuleIn, ShiftIn
from api.settings import Settings, get_settings
from api.sla import service as sla
from api.sla.models import CalendarIn, PolicyIn

Q = sql.load("api.routing")


async def _user_id(conn: Conn, email: str) -> int:
    user = await people.get_by_email(conn, email=email)
    if user is None:
        raise ValueError(f"routing.yml names {email}, who is not in the demo organisation")
    return user.id


async def seed(conn: Conn, *, path: Path, settings: Settings | None = None) -> dict[str, int]:
    """Loads ``path``; returns how many of each thing it loaded."""
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    settings = settings or get_settings()
    for calendar in data.get("calendars", []):
        teams = calendar.pop("teams", [])
        await sla.put_calendar(conn, data=CalendarIn(**calendar))
        for team in teams:
            await sla.set_team_calendar(conn, team=team, calendar=calendar["slug"])
    for policy in data.get("sla_policies", []):
        await sla.create_policy(conn, data=PolicyIn(**policy))
    for intent, category in data.get("intents", {}).items():
        await conn.execute(Q.set_intent_category, {"intent": intent, "category": category})
    examples = [(c, text) for c, texts in data.get("examples", {}).items() for text in texts]
    for category, text in examples:
        await conn.execute(Q.insert_seed_example, {"category": category, "text": text, "created_by": None})
    for rule in data.get("routing_rules", []):
        await routing.create_rule(conn, data=RuleIn(**rule))
    for email, shifts in data.get("shifts", {}).items():
        await routing.replace_shifts(conn, user_id=await _user_id(conn, email), shifts=[ShiftIn(**s) for s in shifts])
    for email, phone in data.get("phones", {}).items():
        await people.set_phone(conn, user_id=await _user_id(conn, email), phone=phone)
    admin = await people.get_by_email(conn, email="admin@example.com")
    for rule in data.get("alert_rules", []):
        await alerts.create_rule(conn, data=AlertRuleIn(**rule), settings=settings, actor_id=admin.id if admin else None)
    return {"calendars": len(data.get("calendars", [])), "sla_policies": len(data.get("sla_policies", [])),
            "examples": len(examples), "routing_rules": len(data.get("routing_rules", [])),
            "alert_rules": len(data.get("alert_rules", []))}
