"""The access catalogue (the ``access_request`` workflow): the directory's requestable groups, as the bot offers
them to an employee before it starts a run for the one they pick."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.errors import IntegrationError
from api.integrations.directory import DirectoryError, DirectoryUnavailable
from api.settings import Settings
from api.workflows import runtime as runtimes


class CatalogueGroup(BaseModel):
    """A group an employee may ask to join; ``dn`` is the ``group_dn`` input of ``access_request``."""

    name: str
    description: str | None = Field(description="what membership gives, from the directory")
    dn: str


class NoDirectory(IntegrationError):
    """No directory connector is configured (DESKMATE_LDAP_URL unset): there is no catalogue to offer."""

    status, type, title = 503, "/problems/no-directory", "No directory is configured"


class DirectoryFailed(IntegrationError):
    """The directory could not be read (unreachable, refused)."""

    type, title = "/problems/directory", "The directory failed"


async def catalogue(settings: Settings) -> list[CatalogueGroup]:
    """The requestable groups, by name. Raises NoDirectory, DirectoryFailed."""
    runtime = runtimes.current(settings)
    if not runtimes.has_directory(runtime):
        raise NoDirectory("No directory connector is configured, so there is no catalogue of requestable groups "
                          "(docs/workflows.md).")
    try:
        groups = await runtime.directory.requestable_groups()
    except DirectoryError as exc:
        raise DirectoryFailed(f"reading the requestable groups: {exc}",
                              permanent=not isinstance(exc, DirectoryUnavailable)) from exc
    return sorted((CatalogueGroup(name=g.name, description=g.description, dn=g.dn) for g in groups),
                  key=lambda g: g.name.lower())
