"""The HL API's shapes turned into the legacy API's, and back, so the connector and the maps see one shape.

    HL (api.php/v2)                         legacy (apirest.php), what the connector reads and writes
    status {id, name}                       status (the int)
    category {id, name} / category: id      itilcategories_id
    entity {id, …} / entity: id             entities_id
    external_id                             externalid
    date_mod "2026-03-02T10:15:00+01:00"    date_mod "2026-03-02 10:15:00"
    is_private true/false                   is_private 1/0

Dates keep GLPI's wall clock and drop the offset, as the legacy API shows them (the sync engine's cursor and
the links' ``date_mod`` are GLPI's own clock, compared as text; docs/integrations/glpi.md#choosing-the-api).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

GLPI_DATE = "%Y-%m-%d %H:%M:%S"  # the legacy API's dates, and the sync engine's cursor (engine.GLPI_DATE)
DATES = ("date", "date_creation", "date_mod", "solvedate", "closedate")
_RENAMED_OUT = {"itilcategories_id": "category", "entities_id": "entity", "externalid": "external_id"}


def glpi_date(value: Any) -> str | None:
    """An ISO 8601 date-time as GLPI's ``YYYY-MM-DD HH:MM:SS`` (the wall clock it shows, offset dropped)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).strftime(GLPI_DATE)
    except ValueError:
        return str(value)  # not ISO 8601 after all: compared as GLPI sent it


def _id(value: Any) -> int:
    """The id of a dropdown (``{id, name}``, a bare id, or nothing: 0)."""
    if isinstance(value, dict):
        value = value.get("id")
    return int(value or 0)


def ticket(row: dict[str, Any]) -> dict[str, Any]:
    """An HL ticket as the legacy API shows it (the fields the connector and the maps read)."""
    shaped = {k: v for k, v in row.items() if k not in ("status", "category", "entity", "external_id", *DATES)}
    return shaped | {
        "status": _id(row.get("status")) or None,
        "itilcategories_id": _id(row.get("category")),
        "entities_id": _id(row.get("entity")),
        "externalid": row.get("external_id") or "",
        "is_deleted": int(bool(row.get("is_deleted"))),
    } | {name: glpi_date(row.get(name)) for name in DATES if name in row}


def followup(row: dict[str, Any]) -> dict[str, Any]:
    """An HL timeline follow-up as the legacy API shows an ITILFollowup."""
    return {k: v for k, v in row.items() if k not in DATES} | {
        "is_private": int(bool(row.get("is_private")))} | {name: glpi_date(row.get(name)) for name in DATES
                                                              if name in row}


def ticket_input(fields: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``input`` of a ticket (mapping.create_input, the connector's updates) as an HL body.
    Dropdowns are written as their id (GLPI stores the value given for ``category`` as ``itilcategories_id``).
    Other fields keep their name; GLPI ignores those its schema does not know (the legacy ``_users_id_*``)."""
    return {_RENAMED_OUT.get(name, name): value for name, value in fields.items()}


def rsql_value(text: str) -> str:
    """A string as an RSQL value: double-quoted, quotes and backslashes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
