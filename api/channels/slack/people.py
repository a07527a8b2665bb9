"""Who is writing: a Slack user's profile e-mail address (users.info), matched to an active employee.

The address is remembered per process for DESKMATE_SLACK_USER_CACHE_TTL_S, so a busy thread does not ask Slack
on every message; the employee is looked up each time, so a deactivated account stops counting at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from api.auth import service as people
from api.auth.models import User
from api.db import Conn
from api.errors import ChannelDeliveryFailed

UNKNOWN_USER = {"user_not_found", "user_not_visible"}


@dataclass
class SlackPeople:
    client: AsyncWebClient
    ttl_s: float
    _emails: dict[str, tuple[float, str | None]] = field(default_factory=dict)

    async def email(self, user_id: str) -> str | None:
        """The profile's e-mail address, None when Slack has none for this user (or no such user)."""
        cached = self._emails.get(user_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self.client.users_info(user=user_id)
            profile = (response.get("user") or {}).get("profile") or {}
            email = str(profile["email"]).lower() if profile.get("email") else None
        except SlackApiError as exc:
            if exc.response.get("error") not in UNKNOWN_USER:
                raise ChannelDeliveryFailed(f"Slack's users.info failed: {exc.response.get('error')}.") from exc
            email = None
        self._emails[user_id] = (time.monotonic() + self.ttl_s, email)
        return email

    async def employee(self, conn: Conn, user_id: str) -> User | None:
        """The active employee with the Slack user's e-mail address, or None."""
        email = await self.email(user_id)
        employee = await people.get_by_email(conn, email=email) if email else None
        return employee if employee is not None and employee.active else None
