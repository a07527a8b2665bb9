"""The mailboxes admin API: admins only, the password encrypted at rest and never returned, problem+json errors."""

from __future__ import annotations

import uuid

import pytest
from email_support import make_mailbox

from api import crypto
from api.auth.models import Role


def _body(dovecot, **fields) -> dict:
    return {"name": f"support-{uuid.uuid4().hex[:8]}", "host": dovecot.host, "port": dovecot.port, "tls": "none",
            "username": "desk", "password": "imap-Secret-123", **fields}


async def test_only_admins_manage_mailboxes(client, make_actor, dovecot):
    for role in (Role.employee, Role.agent):
        actor = await make_actor(role)
        created = await client.post("/api/v1/mailboxes", json=_body(dovecot), headers=actor.headers)
        listed = await client.get("/api/v1/mailboxes", headers=actor.headers)
        assert created.status_code == listed.status_code == 403
        assert created.headers["content-type"] == "application/problem+json"
    assert (await client.get("/api/v1/mailboxes")).status_code == 401


async def test_the_password_is_encrypted_and_never_returned(client, conn, make_actor, settings, dovecot):
    admin = await make_actor(Role.admin)
    body = _body(dovecot, unknown_sender="create_contact", processed_folder="Processed")

    created = await client.post("/api/v1/mailboxes", json=body, headers=admin.headers | {"Idempotency-Key": "mb-1"})
    replayed = await client.post("/api/v1/mailboxes", json=body, headers=admin.headers | {"Idempotency-Key": "mb-1"})

    assert created.status_code == 201 and replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json()["id"] == created.json()["id"]
    mailbox = created.json()
    assert created.headers["Location"] == f"/api/v1/mailboxes/{mailbox['id']}"
    assert mailbox["unknown_sender"] == "create_contact" and mailbox["enabled"] is True
    shown = [created.text, (await client.get(f"/api/v1/mailboxes/{mailbox['id']}", headers=admin.headers)).text,
             (await client.get("/api/v1/mailboxes", headers=admin.headers)).text]
    assert all("imap-Secret-123" not in text and "password" not in text for text in shown)
    row = await (await conn.execute("SELECT password_encrypted FROM mailboxes WHERE id = %s",
                                    (mailbox["id"],))).fetchone()
    assert "imap-Secret-123" not in row["password_encrypted"]
    assert crypto.decrypt(settings, row["password_encrypted"]) == "imap-Secret-123"

    patched = await client.patch(f"/api/v1/mailboxes/{mailbox['id']}", headers=admin.headers,
                                 json={"password": "new-Secret-456", "enabled": False})
    assert patched.status_code == 200 and patched.json()["enabled"] is False and "new-Secret" not in patched.text
    row = await (await conn.execute("SELECT password_encrypted FROM mailboxes WHERE id = %s",
                                    (mailbox["id"],))).fetchone()
    assert crypto.decrypt(settings, row["password_encrypted"]) == "new-Secret-456"


async def test_rotation_covers_mailbox_passwords():
    assert ("mailboxes", "password_encrypted") in {(c.table, c.column) for c in crypto.ENCRYPTED_COLUMNS}


@pytest.mark.parametrize(("field", "value"), [("tls", "plain"), ("unknown_sender", "ignore"), ("port", 0),
                                              ("host", "imap.example.com/x"), ("colour", "blue")])
async def test_invalid_mailboxes_are_refused(client, make_actor, dovecot, field, value):
    admin = await make_actor(Role.admin)
    answer = await client.post("/api/v1/mailboxes", json=_body(dovecot, **{field: value}), headers=admin.headers)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    assert "imap-Secret-123" not in answer.text


async def test_duplicate_names_conflict_and_delete_then_404(client, make_actor, dovecot):
    admin = await make_actor(Role.admin)
    body = _body(dovecot)
    first = await client.post("/api/v1/mailboxes", json=body, headers=admin.headers)
    again = await client.post("/api/v1/mailboxes", json=body, headers=admin.headers)
    assert first.status_code == 201 and again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    url = f"/api/v1/mailboxes/{first.json()['id']}"
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await client.get(url, headers=admin.headers)).status_code == 404
    assert (await client.delete(url, headers=admin.headers)).status_code == 404


async def test_test_endpoint_logs_in(client, conn, make_actor, settings, dovecot):
    admin = await make_actor(Role.admin)
    box = await make_mailbox(conn, settings, dovecot)
    good = await client.post(f"/api/v1/mailboxes/{box.id}/test", headers=admin.headers)
    await client.patch(f"/api/v1/mailboxes/{box.id}", json={"password": "wrong"}, headers=admin.headers)
    bad = await client.post(f"/api/v1/mailboxes/{box.id}/test", headers=admin.headers)

    assert good.json() == {"ok": True, "messages": 0, "error": None}
    assert bad.json()["ok"] is False and "Authentication failed" in bad.json()["error"]
    assert "wrong" not in bad.json()["error"].replace("Wrong", "")
