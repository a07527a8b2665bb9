"""The software catalogue (the ``software_request`` workflow): what an employee may ask to have installed, whether
their manager must approve it, and the team that fulfils it. It is data, ``catalogue/software.yml`` beside the
definitions, validated like them; the bot offers its items before it starts a run for the one picked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api import sql
from api.db import Conn
from api.errors import ValidationFailed
from api.settings import Settings
from api.types import Slug, Title
from api.workflows.files import read

Q = sql.load("api.workflows")
CATALOGUE = Path("catalogue") / "software.yml"


class SoftwareItem(BaseModel):
    """An item of the catalogue; ``slug`` is the ``item`` input of ``software_request``."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Title
    description: str = ""
    needs_approval: bool = Field(description="the requester's manager must approve it first")
    team: Slug = Field(description="the team that fulfils it (a team's slug)")


class SoftwareCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SoftwareItem]

    @model_validator(mode="after")
    def _unique(self) -> SoftwareCatalogue:
        slugs = [i.slug for i in self.items]
        twice = sorted({s for s in slugs if slugs.count(s) > 1})
        if twice:
            raise ValueError(f"item slug(s) used twice: {', '.join(twice)}")
        return self


class CatalogueItem(SoftwareItem):
    """An item as the bot gets it: with the fulfilling team's name."""

    team_name: str


def path(settings: Settings) -> Path:
    return settings.workflows_dir / CATALOGUE


def load(file: Path) -> list[SoftwareItem]:
    """The catalogue in ``file`` (none when it does not exist); DefinitionError naming the file and every problem."""
    return read(file, SoftwareCatalogue).items if file.exists() else []


async def catalogue(conn: Conn, settings: Settings) -> list[CatalogueItem]:
    """The items, by name, each with its team's name (the slug when the team is not in the database)."""
    items = load(path(settings))
    rows = await (await conn.execute(Q.team_names, {"slugs": [i.team for i in items]})).fetchall()
    names = {r["slug"]: r["name"] for r in rows}
    return sorted((CatalogueItem(**i.model_dump(), team_name=names.get(i.team, i.team)) for i in items),
                  key=lambda i: i.name.lower())


def check_choice(settings: Settings, *, key: str, value: Any) -> None:
    """ValidationFailed (422) unless ``value`` is the slug of a catalogue item."""
    if str(value) not in {i.slug for i in load(path(settings))}:
        raise ValidationFailed(f"{key}: {value!r} is not in the software catalogue (see "
                               "GET /api/v1/workflows/software_request/catalogue).")


def item(settings: Settings, *, slug: str) -> dict[str, Any]:
    """The item ``slug`` as the catalogue has it now; ValueError when it is not there (any more)."""
    found = next((i for i in load(path(settings)) if i.slug == slug), None)
    if found is None:
        raise ValueError(f"{slug!r} is not in the software catalogue ({path(settings)})")
    return found.model_dump()
