"""A SolMan connector's configuration and how deskmate ticket fields become incident properties and back.

Who owns what (docs/integrations/solman.md#conflicts):

    SolMan property        deskmate          direction      on a conflicting edit
    Description            title             out (create)   —
    LongText               description       out (create)   —
    CategoryId …           category          out (create)   —
    Priority               priority          out            deskmate's value is written (in: backfill only)
    StatusCode (config)    status            both           SolMan's value is kept (conflict recorded)

Every code and name here is the customer's customizing: the defaults are the commonly cited SMIN values, to be
checked against the system (the spec's "verify against the customer system" list).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from api.integrations.solman.client import SolmanConfig
from api.tickets.models import SourceType, TicketCreate
from api.types import Status

S = Status


class SolmanCategory(BaseModel):
    """A category of the incident's category schema (all three are needed when one is set)."""

    model_config = ConfigDict(extra="forbid")

    category_id: str = Field(min_length=1, max_length=64)
    aspect_id: str = Field(min_length=1, max_length=64)
    catalog_type: str = Field(min_length=1, max_length=8)


class SolmanSyncConfig(SolmanConfig):
    """A SolMan connector's non-secret settings: the OData names (SolmanConfig), the credentials' non-secret half,
    the poll, and the maps. The connector's ``base_url`` is the Gateway root; the secrets are set beside it."""

    base_url: SkipJsonSchema[str] = Field(default="", exclude=True)  # the connector's base_url, not stored here
    user: str | None = Field(default=None, max_length=40, description="Basic auth: the technical user")
    token_url: str | None = Field(default=None, max_length=2000,
                                  description="OAuth2 client credentials: the token endpoint (then client_id)")
    client_id: str | None = Field(default=None, max_length=200)
    poll_interval_s: int = Field(default=60, ge=10, le=86_400)
    overlap_s: int = Field(default=300, ge=0, le=86_400, description="re-read this much before the cursor")
    push_internal_notes: bool = Field(default=False, description="internal notes become texts of "
                                                                 "internal_text_type (which must be set)")
    internal_text_type: str | None = Field(default=None, max_length=4)
    internal_text_types: list[str] = Field(default_factory=list,
                                           description="SolMan text types that come in as internal notes")
    ignored_text_types: list[str] = Field(default_factory=lambda: ["SU01"],
                                          description="text types not brought in (the incident's description)")
    text_id_property: str = "TextId"
    description_max: int = Field(default=40, ge=1, le=1000, description="length of the short text (Description)")
    reference_property: str = Field(default="LongText", description="where the ticket number is written, and "
                                    "searched for before a create (a retried create finds the incident)")
    status_out: dict[Status, str] = Field(default_factory=lambda: {
        S.new: "E0001", S.assigned: "E0002", S.in_progress: "E0002", S.pending: "E0003", S.resolved: "E0005",
        S.closed: "E0008", S.cancelled: "E0008"})
    status_in: dict[str, Status] = Field(default_factory=lambda: {
        "E0001": S.new, "E0002": S.in_progress, "E0003": S.pending, "E0004": S.in_progress, "E0005": S.resolved,
        "E0008": S.closed})
    priority_out: dict[int, str] = Field(default_factory=lambda: {1: "1", 2: "2", 3: "3", 4: "4", 5: "4"},
                                         description="deskmate priority (P1 … P5) → SolMan priority code")
    priority_in: dict[str, int] = Field(default_factory=lambda: {"1": 1, "2": 1, "3": 2, "4": 3},
                                        description="SolMan priority code → urgency of a ticket backfill imports")
    categories: dict[str, SolmanCategory] = Field(default_factory=dict, description="category slug → SolMan category")

    @model_validator(mode="after")
    def _internal_notes_need_a_text_type(self) -> SolmanSyncConfig:
        if self.push_internal_notes and not self.internal_text_type:
            raise ValueError("push_internal_notes needs internal_text_type (the text type of an internal note)")
        return self

    def client_config(self, base_url: str) -> SolmanConfig:
        """The client's configuration: these names, at the connector's address."""
        return SolmanConfig(**self.model_dump(include=set(SolmanConfig.model_fields) - {"base_url"}),
                            base_url=base_url)


def marker(number: str) -> str:
    """How an incident carries our ticket number (in ``reference_property``)."""
    return f"[deskmate {number}]"


def create_input(ticket: dict[str, Any], cfg: SolmanSyncConfig) -> dict[str, Any]:
    """The body of ``POST IncidentSet`` for a deskmate ticket (``ProcessType`` is added by the client)."""
    body: dict[str, Any] = {"Description": ticket["title"][:cfg.description_max],
                            "LongText": ticket["description"] or ticket["title"]}
    if (priority := cfg.priority_out.get(int(ticket["priority"]))) is not None:
        body["Priority"] = priority
    if (category := cfg.categories.get(ticket["category"] or "")) is not None:
        body |= {"CategoryId": category.category_id, "CategoryAspectId": category.aspect_id,
                 "CategoryCatalogType": category.catalog_type}
    reference = cfg.reference_property
    if reference == "LongText":
        body["LongText"] = f"{body['LongText']}\n\n{marker(ticket['number'])}"
    else:
        body[reference] = ticket["number"]
    return body


def carries(remote: dict[str, Any], number: str, cfg: SolmanSyncConfig) -> bool:
    """Whether an incident is the one created for this ticket number."""
    value = str(remote.get(cfg.reference_property) or "")
    return marker(number) in value if cfg.reference_property == "LongText" else value == number


def ticket_input(remote: dict[str, Any], key: str, cfg: SolmanSyncConfig) -> TicketCreate:
    """The deskmate ticket for an incident made in SolMan (backfill)."""
    category = next((slug for slug, c in cfg.categories.items() if c.category_id == remote.get("CategoryId")), None)
    return TicketCreate(title=(str(remote.get("Description") or "").strip() or f"SolMan incident {key}")[:200],
                        description=str(remote.get("LongText") or "")[:20_000], category=category,
                        urgency=cfg.priority_in.get(str(remote.get("Priority")), 2), impact=2,
                        source_type=SourceType.SOLMAN, source_reference=key)


def out(ticket: dict[str, Any], cfg: SolmanSyncConfig) -> dict[str, Any]:
    """The two-way and outbound properties of a ticket as SolMan says them (None where a map has no code)."""
    return {cfg.status_property: cfg.status_out.get(Status(ticket["status"])),
            "Priority": cfg.priority_out.get(int(ticket["priority"]))}


def seen(remote: dict[str, Any], cfg: SolmanSyncConfig) -> dict[str, Any]:
    """The mapped properties of an incident, as a link remembers them."""
    return {cfg.status_property: remote.get(cfg.status_property), "Priority": remote.get("Priority")}


def local_fields(fields: set[str]) -> set[str]:
    """The incident properties a change of these deskmate fields touches (priority follows urgency and impact)."""
    return ({"status"} & fields) | ({"priority"} if fields & {"urgency", "impact", "priority"} else set())
