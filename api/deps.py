"""Request dependencies shared by the domains' routes (the connection is ``api.db.ConnDep``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from api.settings import Settings


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (async: FastAPI runs a plain ``def`` dependency in a worker thread,
    a thread hop on every authenticated request)."""
    return request.app.state.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
# the Idempotency-Key header of a request that creates (api/idempotency.py)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                            pattern=r"\S")]
