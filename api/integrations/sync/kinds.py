"""The connector kinds the engine can open, by ``sync_connectors.kind`` (api/integrations/sync/protocol.py)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from api.errors import ValidationFailed
from api.integrations.glpi.sync import open_session as open_glpi
from api.integrations.solman.sync import open_session as open_solman
from api.integrations.sync.connectors import Runtime
from api.integrations.sync.protocol import Opener, Session
from api.settings import Settings

OPENERS: dict[str, Opener] = {"glpi": open_glpi, "solman": open_solman}


def open_session(rt: Runtime[Any], settings: Settings) -> AbstractAsyncContextManager[Session]:
    """A session with the connector's external system, for one push or one poll."""
    opener = OPENERS.get(rt.kind)
    if opener is None:
        raise ValidationFailed(f"Sync connector {rt.name!r} has an unknown kind {rt.kind!r}.")
    return opener(rt, settings)
