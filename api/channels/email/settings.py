"""E-mail channel settings: DESKMATE_EMAIL_* (docs/configuration.md). Mailboxes themselves are configured through
the admin API (``/api/v1/mailboxes``), not here."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from api.integrations import settings_config


class EmailSettings(BaseSettings):
    model_config = settings_config("DESKMATE_EMAIL_")

    poll_batch: int = Field(default=50, ge=1, le=1000)  # messages read per mailbox per poll
    imap_timeout_s: float = Field(default=30.0, gt=0)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)  # bigger: a ticket with a note, no body
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)  # per file; bigger ones are listed, not kept
    max_attachments: int = Field(default=20, ge=0, le=1000)  # per message
    blocked_extensions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [".exe", ".bat", ".cmd", ".com", ".js", ".msi", ".ps1", ".scr", ".vbs"])
    acknowledge: bool = True  # answer a new ticket from mail with its number
    idle: bool = True  # the worker waits in IMAP IDLE on the mailboxes whose server offers it (api/channels/email/idle.py)
    idle_renew_s: float = Field(default=540.0, gt=0, le=29 * 60)  # IDLE is ended and issued again this often
    idle_refresh_s: float = Field(default=30.0, gt=0)  # how often the IDLE supervisor re-reads the mailbox list

    @field_validator("blocked_extensions", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [v.strip().lower() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
