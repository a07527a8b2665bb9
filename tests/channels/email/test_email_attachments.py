"""Attachments a ticket's mail brought: listed and downloadable by whoever may see the ticket, by nobody else."""

from __future__ import annotations

from email_support import corpus, make_mailbox, messages

from api.auth.models import Role
from api.channels.email import ingest


async def test_attachments_are_listed_and_downloaded_by_the_requester_only(client, conn, mail_settings, dovecot,
                                                                           make_actor):
    alice, bob = await make_actor(Role.employee), await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot)
    box.append(corpus("inline_image.eml", sender=alice.user.email))
    await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    number = (await (await conn.execute("SELECT number FROM tickets WHERE id = %s",
                                        ((await messages(conn, box.id))[0]["ticket_id"],))).fetchone())["number"]

    listed = await client.get(f"/api/v1/tickets/{number}/attachments", headers=alice.headers)
    assert listed.status_code == 200
    [shot] = listed.json()
    assert shot["filename"] == "screenshot.png" and shot["content_type"] == "image/png" and shot["size"] == 68
    download = await client.get(f"/api/v1/tickets/{number}/attachments/{shot['id']}", headers=alice.headers)
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''screenshot.png"

    hidden = await client.get(f"/api/v1/tickets/{number}/attachments", headers=bob.headers)
    hidden_file = await client.get(f"/api/v1/tickets/{number}/attachments/{shot['id']}", headers=bob.headers)
    assert hidden.status_code == hidden_file.status_code == 404
