"""How deskmate ticket fields become GLPI fields and back, by a connector's maps (its ``config``).

Who owns what (docs/integrations/glpi.md#conflicts):

    GLPI field         deskmate     direction      on a conflicting edit
    name               title        out            deskmate's value is written
    content            description  out            deskmate's value is written
    type               type         out            deskmate's value is written
    status             status       both           GLPI's value is kept (conflict recorded)
    urgency / impact   urgency / impact (1 high … 3 low vs GLPI 1 very low … 5 very high)   both   GLPI's kept
    itilcategories_id  category     both           GLPI's value is kept (conflict recorded)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.types import Status, TicketType

S = Status
REQUESTER_NOTE = "\n\nRequester: "  # ends the content of a ticket whose requester GLPI does not know (people.py)


class GlpiConfig(BaseModel):
    """A GLPI connector's non-secret settings: the entity, the poll, and the field maps."""

    model_config = ConfigDict(extra="forbid")

    entity_id: int = Field(default=0, ge=0, description="entities_id of the tickets deskmate creates")
    poll_interval_s: int = Field(default=60, ge=10, le=86_400)
    overlap_s: int = Field(default=300, ge=0, le=86_400, description="re-read this much before the cursor")
    push_internal_notes: bool = Field(default=False, description="internal notes become private follow-ups")
    status_out: dict[Status, int] = Field(default_factory=lambda: {
        S.new: 1, S.assigned: 2, S.in_progress: 2, S.pending: 4, S.resolved: 5, S.closed: 6, S.cancelled: 6})
    status_in: dict[int, Status] = Field(default_factory=lambda: {
        1: S.new, 2: S.in_progress, 3: S.in_progress, 4: S.pending, 5: S.resolved, 6: S.closed})
    level_out: dict[int, int] = Field(default_factory=lambda: {1: 4, 2: 3, 3: 2},
                                      description="deskmate urgency/impact (1 high … 3 low) → GLPI (1 … 5)")
    level_in: dict[int, int] = Field(default_factory=lambda: {1: 3, 2: 3, 3: 2, 4: 1, 5: 1})
    type_out: dict[TicketType, int] = Field(default_factory=lambda: {TicketType.incident: 1, TicketType.request: 2})
    categories: dict[str, int] = Field(default_factory=dict, description="category slug → itilcategories_id")
    api: Literal["legacy", "hl"] = Field(default="legacy", description=(
        "legacy: apirest.php with user_token (+ app_token); hl: GLPI 11's api.php/v2 with OAuth2 "
        "(client_id, username here; client_secret, password as connector secrets)"))
    client_id: str | None = Field(default=None, max_length=200, description="hl: the OAuth client's id")
    username: str | None = Field(default=None, max_length=200, description="hl: the GLPI user deskmate acts as")
    groups: dict[str, int] = Field(default_factory=dict, description="team slug → GLPI group id (assigned group)")
    webhook_tolerance_s: int = Field(default=300, ge=30, le=86_400,
                                     description="accept GLPI webhooks signed this close to our clock")


@dataclass(frozen=True)
class FieldMap:
    """One GLPI field: the deskmate field it mirrors, both ways or outbound only."""

    glpi: str
    local: str
    inbound: bool

    def out(self, ticket: dict[str, Any], cfg: GlpiConfig) -> Any:
        value = ticket[self.local]
        match self.glpi:
            case "status":
                return cfg.status_out.get(Status(value))
            case "urgency" | "impact":
                return cfg.level_out.get(int(value))
            case "itilcategories_id":
                return cfg.categories.get(value, 0) if value else 0
            case "type":
                return cfg.type_out.get(TicketType(value))
        return value

    def into(self, remote: Any, cfg: GlpiConfig) -> Any:
        """The deskmate value of a GLPI value (None when the map has none)."""
        match self.glpi:
            case "status":
                return cfg.status_in.get(int(remote))
            case "urgency" | "impact":
                return cfg.level_in.get(int(remote))
            case "itilcategories_id":
                return next((slug for slug, cid in cfg.categories.items() if cid == int(remote or 0)), None)
        return remote

    def same(self, ticket: dict[str, Any], remote: Any, cfg: GlpiConfig) -> bool:
        """Whether both sides say the same thing (either map agrees; GLPI's content may end with a requester note)."""
        if self.glpi == "content" and isinstance(remote, str):
            remote = remote.split(REQUESTER_NOTE)[0]
        return self.out(ticket, cfg) == remote or (self.inbound and self.into(remote, cfg) == ticket[self.local])


FIELDS = (FieldMap("name", "title", False), FieldMap("content", "description", False),
          FieldMap("type", "type", False), FieldMap("status", "status", True),
          FieldMap("urgency", "urgency", True), FieldMap("impact", "impact", True),
          FieldMap("itilcategories_id", "category", True))
BY_LOCAL = {f.local: f for f in FIELDS} | {"category_id": next(f for f in FIELDS if f.local == "category")}
INBOUND = tuple(f for f in FIELDS if f.inbound)


def create_input(ticket: dict[str, Any], cfg: GlpiConfig) -> dict[str, Any]:
    """The ``input`` of ``POST /Ticket/`` for a deskmate ticket (externalid = its number)."""
    fields = {f.glpi: f.out(ticket, cfg) for f in FIELDS if f.glpi != "status"}
    return {k: v for k, v in fields.items() if v is not None} | {
        "externalid": ticket["number"], "entities_id": cfg.entity_id}


def seen(remote: dict[str, Any]) -> dict[str, Any]:
    """The mapped fields of a GLPI ticket, as a link remembers them."""
    return {f.glpi: remote.get(f.glpi) for f in FIELDS}
