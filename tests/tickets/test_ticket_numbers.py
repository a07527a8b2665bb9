"""Ticket numbers stay unique past 999,999: INC-999999 is followed by INC-1000000, not a cut-down copy of it.

A database of its own: moving the shared test database's id sequence to a million would renumber every other
test's tickets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg.rows import dict_row

from api import migrate
from api.auth import service as people
from api.auth.models import Role, UserCreate
from api.dev import embedded_pg
from api.settings import REPO_ROOT
from api.tickets import service as tickets
from api.tickets.models import TicketCreate


@pytest.fixture
async def own_conn(pg_server: str) -> AsyncIterator[psycopg.AsyncConnection]:
    name = f"deskmate_numbers_{uuid.uuid4().hex[:8]}"
    embedded_pg.ensure_database(pg_server, name)
    url = pg_server.replace("/postgres?", f"/{name}?")
    migrate.migrate(url, REPO_ROOT / "migrations")
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            yield conn
    finally:
        embedded_pg.drop_database(pg_server, name)


async def test_numbers_grow_a_digit_after_999999_and_each_finds_its_ticket(own_conn) -> None:
    user = await people.create_user(own_conn, data=UserCreate(email="e@example.com", name="E", role=Role.employee))
    principal = await people.principal_by_id(own_conn, user_id=user.id)
    await own_conn.execute("SELECT setval(pg_get_serial_sequence('tickets', 'id'), 999998)")
    made = [(await tickets.create(own_conn, principal=principal, data=TicketCreate(title=f"Ticket {n}", type=kind)))[0]
            for n, kind in enumerate(("incident", "incident", "request"))]
    assert [t.number for t in made] == ["INC-999999", "INC-1000000", "REQ-1000001"]
    for ticket in made:
        assert (await tickets.get_or_raise(own_conn, principal=principal, ref=ticket.number)).id == ticket.id
