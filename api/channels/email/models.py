"""Mailboxes as the admin API takes and shows them; the password goes in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Host = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^\s/]+$")]
Folder = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]+$")]
Username = Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\r\n\x00]+$")]
Password = Annotated[SecretStr, Field(min_length=1, max_length=1000)]
Tls = Literal["none", "starttls", "ssl"]
UnknownSender = Literal["create_contact", "reject"]


class MailboxIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    host: Host
    port: int = Field(default=993, ge=1, le=65535)
    tls: Tls = "ssl"
    username: Username
    password: Password = Field(description="encrypted at rest; never returned")
    address: EmailStr | None = Field(default=None, description="the address people write to: Reply-To of "
                                     "what deskmate sends about these tickets")
    folder: Folder = "INBOX"
    processed_folder: Folder | None = Field(default=None, description="move processed mail here; "
                                            "None: leave it and flag it \\Seen")
    unknown_sender: UnknownSender = Field(default="reject", description="mail from an address no user has: "
                                          "create_contact (a new employee) or reject (a polite answer)")
    enabled: bool = True


class MailboxPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    host: Host | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Tls | None = None
    username: Username | None = None
    password: Password | None = None
    address: EmailStr | None = None
    folder: Folder | None = None
    processed_folder: Folder | None = None
    unknown_sender: UnknownSender | None = None
    enabled: bool | None = None


class Mailbox(BaseModel):
    id: int
    name: str
    host: str
    port: int
    tls: Tls
    username: str
    address: str | None
    folder: str
    processed_folder: str | None
    unknown_sender: UnknownSender
    enabled: bool
    uidvalidity: int | None = Field(description="the folder's UIDVALIDITY the cursor belongs to")
    last_uid: int = Field(description="the last UID processed")
    last_polled_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class MailboxTest(BaseModel):
    ok: bool
    messages: int | None = None
    error: str | None = None


class Attachment(BaseModel):
    id: int
    ticket_id: int
    filename: str
    content_type: str
    size: int
    created_at: datetime


class AttachmentFile(Attachment):
    content: bytes
