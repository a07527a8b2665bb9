"""People, teams and roles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, computed_field


class Role(StrEnum):
    employee = "employee"
    agent = "agent"
    admin = "admin"
    service = "service"


class Person(BaseModel):
    """What every view of a user has."""

    id: int
    email: str
    name: str
    role: Role
    department: str | None = None
    vip: bool = False


class Principal(Person):
    """Who is making a request: the user behind the token, or the user a service acts for."""

    model_config = ConfigDict(frozen=True)

    team_ids: tuple[int, ...] = ()
    via_service_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.agent, Role.admin)


class User(Person):
    capacity: int = 10
    active: bool = True
    created_at: datetime
    deactivated_at: datetime | None = None


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.employee
    department: str | None = Field(default=None, max_length=200)
    vip: bool = False
    capacity: int = Field(default=10, ge=0, le=1000)
    team_slugs: list[str] = Field(default_factory=list, max_length=50)
    skills: dict[str, int] = Field(default_factory=dict, max_length=100)


class Skill(BaseModel):
    skill: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    level: int = Field(ge=1, le=5)


class Team(BaseModel):
    id: int
    slug: str
    name: str
    email: str | None = None
    member_ids: list[int] = Field(default_factory=list)


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None


class CreatedToken(BaseModel):
    token: str
    prefix: str
    user: User
    id: int | None = None
    expires_at: datetime | None = None


class TokenInfo(BaseModel):
    """An API token as listed: never the token itself, only its prefix and its lifecycle."""

    id: int
    user_id: int
    email: str
    role: Role
    prefix: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def state(self) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= datetime.now(self.expires_at.tzinfo):
            return "expired"
        return "active"


class TokenCreate(BaseModel):
    """An admin issuing a token for an existing user; ``expires_in_days`` null uses the role's default."""

    model_config = ConfigDict(extra="forbid")

    user_id: int
    name: str = Field(default="", max_length=200)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    never_expires: bool = False
