"""Loads the demo organisation (data/demo/org.yml) once: teams, categories, agents with skills, employees."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from api.auth import service as people
from api.auth.models import TeamCreate, UserCreate
from api.db import Conn
from api.routing import demo as triage_demo
from api.tickets import service as tickets
from api.tickets.models import CategoryCreate

log = logging.getLogger(__name__)


async def seed(conn: Conn, *, path: Path, tokens_file: Path) -> bool:
    """Loads the demo org in one transaction unless teams exist; returns whether it loaded anything."""
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
            await triage_demo.seed(conn, path=triage)
        lines = []
        for email in org.get("demo_tokens", []):
            user = await people.get_by_email(conn, email=email)
            assert user is not None
            created = await people.create_token(conn, user=user, name="demo")
            lines.append(f"# {user.name} ({user.role})\nDESKMATE_TOKEN_{user.role.upper()}={created.token}\n")
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text("".join(lines))
    tokens_file.chmod(0o600)
    log.info("demo organisation loaded", extra={"people": len(org["people"]), "teams": len(org["teams"])})
    return True
