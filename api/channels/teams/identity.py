"""Which employee a Teams user is: their UPN (from the activity, else the Bot Connector's member profile),
matched to a deskmate user by e-mail address. Looked-up addresses are cached per Entra object id."""

from __future__ import annotations

import logging
import time
from typing import Any

from microsoft_agents.activity import Activity

from api.auth import service as people
from api.auth.models import User
from api.channels.teams.connector import BotConnector
from api.db import Conn
from api.errors import ChannelDeliveryFailed

log = logging.getLogger(__name__)


def _address(profile: dict[str, Any]) -> str | None:
    for key in ("userPrincipalName", "email"):
        if isinstance(profile.get(key), str) and "@" in profile[key]:
            return str(profile[key]).strip().lower()
    return None


class Directory:
    """Teams users' addresses, from the activity or the member profile, cached for ``ttl_s``."""

    def __init__(self, connector: BotConnector, ttl_s: float) -> None:
        self.connector = connector
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[str, float]] = {}

    async def address(self, activity: Activity, sender: dict[str, Any]) -> str | None:
        """The sender's UPN or e-mail address; None when Teams does not tell."""
        user = activity.from_property
        if user is None or activity.conversation is None or activity.service_url is None:
            return None
        key = user.aad_object_id or user.id
        cached = self._cache.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        address = _address(sender)
        if address is None:
            try:
                address = _address(await self.connector.member(activity.service_url, activity.conversation.id, user.id))
            except ChannelDeliveryFailed as exc:
                log.warning("teams member profile unavailable", extra={"error": exc.detail})
        if address is not None:
            self._cache[key] = (address, time.monotonic() + self.ttl_s)
        return address


async def employee(conn: Conn, address: str | None) -> User | None:
    """The active deskmate user with this address, or None (the conversation is then anonymous)."""
    user = await people.get_by_email(conn, email=address) if address else None
    return user if user is not None and user.active else None
