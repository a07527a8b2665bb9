"""GLPI webhooks: a signed delivery makes deskmate pull that ticket at once (no poll); forged, stale and replayed
deliveries change nothing."""

from __future__ import annotations

import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakes.glpi_server import FakeWebhook
from glpi_hook_support import deliver_all, hook_up, post, webhook_path
from sync_support import open_ticket, remote_by_number, run_worker

from api import crypto
from api.dev import fake_glpi_webhooks
from api.dev import glpi as dev_glpi


async def _comments(conn, ticket_id):
    rows = await (await conn.execute("SELECT body FROM ticket_comments WHERE ticket_id = %s ORDER BY id",
                                     (ticket_id,))).fetchall()
    return [r["body"] for r in rows]


async def _pulls_waiting(conn, connector):
    row = await (await conn.execute("SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = 'sync.pull' "
                                    "AND status = 'todo' AND (args->>'connector_id')::bigint = %s",
                                    (connector.id,))).fetchone()
    return row["n"]


async def _linked(conn, glpi, make_actor, sync_settings, title):
    ticket = await open_ticket(conn, await make_actor(), title)
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    glpi.fake.take_webhooks()  # what GLPI queued before the webhook existed: nothing
    return ticket, remote


async def test_a_follow_up_added_in_glpi_reaches_the_ticket_by_webhook_without_a_poll(
        client, conn, glpi, connector, make_actor, sync_settings):
    ticket, remote = await _linked(conn, glpi, make_actor, sync_settings, "Printer jams on tray 2")
    await hook_up(conn, sync_settings, connector, glpi)
    await conn.execute("UPDATE sync_connectors SET last_polled_at = now() WHERE id = %s", (connector.id,))
    polled_at = (await (await conn.execute("SELECT last_polled_at FROM sync_connectors WHERE id = %s",
                                           (connector.id,))).fetchone())["last_polled_at"]
    glpi.fake.add_followup(remote["id"], "Replaced the roller")
    [answer] = await deliver_all(client, glpi)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "queued", "glpi_ticket": remote["id"]}
    await run_worker(sync_settings)
    assert await _comments(conn, ticket.id) == ["Replaced the roller"]
    row = await (await conn.execute("SELECT last_polled_at FROM sync_connectors WHERE id = %s",
                                    (connector.id,))).fetchone()
    assert row["last_polled_at"] == polled_at  # the poll did not run: the webhook's pull did it
    followups = [f for f in glpi.fake.followups.values() if f["items_id"] == remote["id"]]
    assert len(followups) == 1  # not echoed back


async def test_forged_stale_or_unsigned_deliveries_are_refused_and_leave_nothing(
        client, conn, glpi, connector, make_actor, sync_settings):
    ticket, remote = await _linked(conn, glpi, make_actor, sync_settings, "VPN drops every hour")
    await hook_up(conn, sync_settings, connector, glpi)
    glpi.fake.add_followup(remote["id"], "Try the new profile")
    [genuine] = glpi.fake.take_webhooks()
    stale_at = int(time.time()) - 3600
    forger = FakeWebhook(url=genuine.url, secret="not-the-secret")
    forged = fake_glpi_webhooks.build(forger, event="new", itemtype="Ticket", row=glpi.fake.tickets[remote["id"]],
                                      ticket=None)
    tampered = genuine.body.replace(b"Try the new profile", b"Send me your password")
    attempts = [
        await post(client, forged),                                                    # another secret
        await client.post(webhook_path(connector), content=tampered, headers=genuine.headers),  # altered body
        await post(client, genuine, **{"X-GLPI-timestamp": str(stale_at),              # an hour old, re-signed
                                       "X-GLPI-signature": fake_glpi_webhooks.sign("x", genuine.body, stale_at)}),
        await client.post(webhook_path(connector), content=genuine.body),              # no headers at all
    ]
    for answer in attempts:
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    secret = crypto.decrypt(sync_settings, (await (await conn.execute(
        "SELECT webhook_secret_encrypted FROM sync_connectors WHERE id = %s", (connector.id,))).fetchone())[
        "webhook_secret_encrypted"])
    stale = await post(client, genuine, **{"X-GLPI-timestamp": str(stale_at),
                                           "X-GLPI-signature": fake_glpi_webhooks.sign(secret, genuine.body, stale_at)})
    assert stale.status_code == 401 and "window" in stale.json()["detail"]  # right secret, too old
    stored = await (await conn.execute("SELECT count(*) AS n FROM sync_webhook_deliveries WHERE connector_id = %s",
                                       (connector.id,))).fetchone()
    assert stored["n"] == 0 and await _pulls_waiting(conn, connector) == 0
    await run_worker(sync_settings)
    assert await _comments(conn, ticket.id) == []


async def test_a_replayed_delivery_has_no_second_effect(client, conn, glpi, connector, make_actor, sync_settings):
    ticket, remote = await _linked(conn, glpi, make_actor, sync_settings, "Laptop fan is loud")
    await hook_up(conn, sync_settings, connector, glpi)
    glpi.fake.add_followup(remote["id"], "Cleaned the fan")
    [delivery] = glpi.fake.take_webhooks()
    assert (await post(client, delivery)).status_code == 202
    await run_worker(sync_settings)
    assert await _comments(conn, ticket.id) == ["Cleaned the fan"]
    glpi.fake.webhooks.clear()  # GLPI changes the ticket again, sending nothing (the poll's job, later)
    glpi.fake.add_followup(remote["id"], "Ordered a new fan")
    replay = await post(client, delivery)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert await _pulls_waiting(conn, connector) == 0
    await run_worker(sync_settings)
    assert await _comments(conn, ticket.id) == ["Cleaned the fan"]  # the replay pulled nothing


async def test_a_webhook_for_a_ticket_deskmate_does_not_have_changes_nothing(client, conn, glpi, connector,
                                                                            sync_settings):
    await hook_up(conn, sync_settings, connector, glpi)
    before = (await (await conn.execute("SELECT count(*) AS n FROM tickets")).fetchone())["n"]
    glpi.fake.add_ticket(name="Made in GLPI")
    [answer] = await deliver_all(client, glpi)
    assert answer.status_code == 202
    await run_worker(sync_settings)
    assert (await (await conn.execute("SELECT count(*) AS n FROM tickets")).fetchone())["n"] == before


async def test_the_secret_is_set_through_the_admin_api_never_shown_and_answers_glpis_challenge(
        client, conn, connector, make_actor, settings):
    admin = await make_actor("admin")
    path = f"/api/v1/sync/connectors/{connector.name}"
    secret = "whs-" + "7" * 40
    assert (await client.post(f"{path}/webhook", content=b"{}")).status_code == 401  # no secret yet: refused
    patched = await client.patch(path, json={"webhook_secret": secret}, headers=admin.headers)
    assert patched.status_code == 200 and patched.json()["has_webhook_secret"] is True
    shown = await client.get(path, headers=admin.headers)
    assert secret not in patched.text and secret not in shown.text and shown.json()["has_webhook_secret"]
    row = await (await conn.execute("SELECT webhook_secret_encrypted FROM sync_connectors WHERE id = %s",
                                    (connector.id,))).fetchone()
    assert secret not in row["webhook_secret_encrypted"]
    assert crypto.decrypt(settings, row["webhook_secret_encrypted"]) == secret
    token = fake_glpi_webhooks.sign(secret, b"validate_cra_challenge", "")  # GLPI: getSignature(body, secret)
    answer = await client.get(f"{path}/webhook", params={"crc_token": token})
    assert answer.status_code == 200 and answer.text == fake_glpi_webhooks.sign(secret, token.encode(), "")
    oracle = await client.get(f"{path}/webhook", params={"crc_token": "anything else"})
    assert oracle.status_code == 401  # not a signing oracle for other texts
    removed = await client.patch(path, json={"webhook_secret": None}, headers=admin.headers)
    assert removed.json()["has_webhook_secret"] is False
    created = await client.post("/api/v1/sync/connectors", headers=admin.headers, json={
        "name": f"{connector.name}-b", "base_url": "https://glpi.example.com/apirest.php/", "user_token": "u",
        "webhook_secret": secret})
    assert created.status_code == 201 and created.json()["has_webhook_secret"] and secret not in created.text
    assert (await client.delete(f"{path}-b", headers=admin.headers)).status_code == 204


class _Catcher(BaseHTTPRequestHandler):
    """Where `deskmate dev fake-glpi --webhooks-to` sends: keeps the request, answers 202."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.caught.put((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


async def test_the_dev_fake_sends_signed_webhooks_over_http_that_deskmate_accepts(
        client, conn, glpi, connector, make_actor, sync_settings):
    ticket, remote = await _linked(conn, glpi, make_actor, sync_settings, "Headset crackles")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catcher)
    server.caught = queue.Queue()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = await dev_glpi.send_webhooks(conn, sync_settings, name=connector.name, glpi=glpi,
                                           api_url=f"http://127.0.0.1:{server.server_address[1]}")
        glpi.fake.add_followup(remote["id"], "New headset on its way")
        path, headers, body = server.caught.get(timeout=30)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
    assert url.endswith(path) and path == webhook_path(connector)
    answer = await client.post(path, content=body, headers={k: v for k, v in headers.items()
                                                            if k.lower().startswith("x-glpi-")})
    assert answer.status_code == 202, answer.text
    await run_worker(sync_settings)
    assert await _comments(conn, ticket.id) == ["New headset on its way"]
