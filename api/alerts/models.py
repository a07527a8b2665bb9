"""Alert rules (events + conditions → channels with recipients and templates), history, notifications."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints, model_validator

from api.types import Slug, SourceType, Status, Title

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
TemplateText = Annotated[str, StringConstraints(max_length=5000)]


class EventKind(StrEnum):
    created = "created"
    assigned = "assigned"
    status_changed = "status_changed"
    commented = "commented"
    priority_raised = "priority_raised"
    sla_warning = "sla_warning"
    sla_breach = "sla_breach"


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"
    IN_APP = "IN_APP"
    ORIGIN = "ORIGIN"  # the requester, where the ticket came from: its chat (widget, Slack, Teams) or mail thread


class Recipient(BaseModel):
    """assignee / requester / team (the ticket's, or ``slug``) / user (``user_id``) / email (``address``) /
    phone (``number``) / affected (the people linked to the ticket as "me too", api/incidents). People resolve
    to their e-mail, phone or in-app inbox depending on the channel."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["assignee", "requester", "team", "user", "email", "phone", "affected"]
    slug: Slug | None = None
    user_id: int | None = None
    address: EmailStr | None = None
    number: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Recipient:
        if self.kind == "user" and self.user_id is None:
            raise ValueError("a 'user' recipient needs user_id")
        if self.kind == "email" and self.address is None:
            raise ValueError("an 'email' recipient needs address")
        if self.kind == "phone" and not (self.number and E164.match(self.number)):
            raise ValueError("a 'phone' recipient needs number in E.164 form (+15551230000)")
        return self


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: TemplateText | None = Field(default=None, description="EMAIL subject / IN_APP title")
    body: TemplateText | None = Field(default=None, description="the text; for WEBHOOK the payload's 'text'")


class ChannelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    recipients: list[Recipient] = Field(default_factory=list, max_length=50)
    url: Annotated[str, StringConstraints(max_length=2000)] | None = Field(default=None, description="WEBHOOK only")
    template: Template = Field(default_factory=Template)

    @model_validator(mode="after")
    def _complete(self) -> ChannelSpec:
        if self.channel is Channel.WEBHOOK:
            if not self.url or not re.match(r"^https?://[^\s/]+", self.url):
                raise ValueError("a WEBHOOK channel needs an http(s) url")
            if self.recipients:
                raise ValueError("a WEBHOOK channel has a url, not recipients")
        elif self.channel is Channel.ORIGIN:
            if any(r.kind != "requester" for r in self.recipients) or self.url:
                raise ValueError("an ORIGIN channel reaches the requester only, where the ticket came from: "
                                 "recipients [{\"kind\": \"requester\"}] (or left out), no url")
            self.recipients = [Recipient(kind="requester")]
        elif not self.recipients:
            raise ValueError(f"a {self.channel} channel needs at least one recipient")
        elif self.url:
            raise ValueError(f"only WEBHOOK channels have a url, not {self.channel}")
        return self


class AlertConditions(BaseModel):
    """Every condition given must hold; within a list, any value matches."""

    model_config = ConfigDict(extra="forbid")

    priorities: list[Annotated[int, Field(ge=1, le=5)]] = Field(default_factory=list, max_length=5)
    teams: list[Slug] = Field(default_factory=list, max_length=50)
    categories: list[Slug] = Field(default_factory=list, max_length=50)
    sources: list[SourceType] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list, description="status_changed: the new status")
    vip: bool | None = None
    include_internal_comments: bool = Field(default=False, description="commented: also internal notes")


class AlertRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Title
    enabled: bool = True
    events: list[EventKind] = Field(min_length=1, max_length=7)
    conditions: AlertConditions = Field(default_factory=AlertConditions)
    channels: list[ChannelSpec] = Field(min_length=1, max_length=10)
    dedup_window_s: int | None = Field(default=None, ge=0, le=7 * 86400,
                                       description="default DESKMATE_ALERTS_DEDUP_WINDOW_S; 0 = no suppression")
    webhook_secret: SecretStr | None = Field(default=None, min_length=16, max_length=200,
                                             description="signing secret; generated when a WEBHOOK rule has none")


class AlertRule(BaseModel):
    id: int
    name: str
    enabled: bool
    events: list[EventKind]
    conditions: AlertConditions
    channels: list[ChannelSpec]
    dedup_window_s: int | None
    has_webhook_secret: bool
    created_at: datetime
    updated_at: datetime


class AlertRuleWithSecret(AlertRule):
    webhook_secret: str | None = Field(default=None, description="shown once, when created or rotated")


class Attempt(BaseModel):
    attempt: int
    status: str
    error: str | None
    detail: dict[str, Any]
    started_at: datetime
    finished_at: datetime | None


class Delivery(BaseModel):
    id: int
    channel: Channel
    recipient: str
    user_id: int | None
    subject: str | None
    body: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    external_id: str | None
    last_error: str | None
    idempotency_key: str
    created_at: datetime
    sent_at: datetime | None
    history: list[Attempt] = Field(default_factory=list)


class Firing(BaseModel):
    id: int
    rule_id: int
    rule_name: str
    ticket_id: int
    ticket_number: str
    event_id: int
    event_kind: EventKind
    status: str = Field(description="fired, suppressed, no_recipients or failed")
    suppressed_by: int | None
    error: str | None = Field(default=None, description="why a failed firing failed")
    created_at: datetime
    deliveries: list[Delivery] = Field(default_factory=list)


class HistoryPage(BaseModel):
    items: list[Firing]
    next_cursor: str | None


class Notification(BaseModel):
    id: int
    ticket_id: int | None
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(description="E.164, e.g. +15551230000; null removes it")

    @model_validator(mode="after")
    def _e164(self) -> Contact:
        if self.phone is not None and not E164.match(self.phone):
            raise ValueError("phone must be in E.164 form (+15551230000)")
        return self
