"""Ticket updates by e-mail (notify): threaded under the requester's mail, tagged, stored, and a failure raised."""

from __future__ import annotations

import pytest
from email_support import make_mailbox, message, messages, send_answers
from fakes.triage import drain, worker_settings

from api.auth.models import Role
from api.channels import Channel
from api.channels.email import ingest
from api.channels.outbound import notifier
from api.errors import ChannelDeliveryFailed, DeskmateError
from api.integrations.smtp.settings import SmtpSettings


async def _mail_ticket(conn, settings, dovecot, alice) -> tuple[object, dict, str]:
    box = await make_mailbox(conn, settings, dovecot, address="helpdesk@example.com")
    raw, mid = message(sender=alice.user.email, subject="Teams has no sound", body="No sound in Teams calls.")
    box.append(raw)
    await ingest.poll_mailbox(conn, settings, mailbox_id=box.id)
    row = (await messages(conn, box.id))[0]
    ticket = await (await conn.execute("SELECT * FROM tickets WHERE id = %s", (row["ticket_id"],))).fetchone()
    return box, ticket, mid


async def test_notify_threads_under_the_requesters_mail_and_replies_come_back(conn, mail_settings, dovecot,
                                                                              make_actor, smtp):
    alice = await make_actor(Role.employee)
    box, ticket, first_id = await _mail_ticket(conn, mail_settings, dovecot, alice)
    await send_answers(conn, mail_settings, box.id)
    assert smtp.sink.wait_for(1)
    ack = smtp.sink.received[0].message

    notify = notifier(Channel.email)
    await notify(conn, mail_settings, ticket=ticket, conversation=None, text="An agent is looking at it.")

    assert smtp.sink.wait_for(2)
    sent = smtp.sink.received[1].message
    assert sent["To"] == alice.user.email and sent["Subject"] == f"[{ticket['number']}] {ticket['title']}"
    assert sent["In-Reply-To"].strip() == ack["Message-ID"].strip()
    assert sent["References"].split() == [first_id, ack["Message-ID"].strip()]
    assert sent["Reply-To"] == "helpdesk@example.com" and ack["Reply-To"] == "helpdesk@example.com"
    assert "An agent is looking at it." in sent.get_content() and f"[{ticket['number']}]" in sent.get_content()
    stored = [r["message_id"] for r in await messages(conn, box.id) if r["direction"] == "out"]
    assert stored == [ack["Message-ID"].strip(), sent["Message-ID"].strip()]  # a long header arrives folded

    reply, _ = message(sender=alice.user.email, subject=f"Re: {sent['Subject']}", body="Thanks!",
                       headers={"In-Reply-To": sent["Message-ID"].strip()})
    box.append(reply)
    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    assert result.outcomes == {"comment": 1}


async def test_notify_raises_when_the_mail_server_refuses(conn, mail_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    _, ticket, _ = await _mail_ticket(conn, mail_settings, dovecot, alice)
    down = mail_settings.model_copy(update={"smtp": SmtpSettings(host="127.0.0.1", port=1, tls="none",
                                                                  timeout_s=5, _env_file=None)})

    with pytest.raises(ChannelDeliveryFailed) as failed:
        await notifier(Channel.email)(conn, down, ticket=ticket, conversation=None, text="Resolved.")

    assert isinstance(failed.value, DeskmateError) and failed.value.status == 502
    sent = await (await conn.execute("SELECT 1 FROM email_messages WHERE ticket_id = %s AND direction = 'out'",
                                     (ticket["id"],))).fetchall()
    assert sent == []  # nothing recorded as sent


async def test_an_agents_reply_reaches_the_requester_in_their_mail_thread(client, conn, mail_settings, dovecot,
                                                                          make_actor, smtp):
    """Through the alert rules' ORIGIN channel (api/channels/origin.py): the triage job, the delivery job, SMTP."""
    alice, agent = await make_actor(Role.employee), await make_actor(Role.admin)
    _, ticket, first_id = await _mail_ticket(conn, mail_settings, dovecot, alice)
    worker = worker_settings(mail_settings)
    await drain(worker)  # the new ticket's own events (and the acknowledgement)
    before = len(smtp.sink.received)

    r = await client.post(f"/api/v1/tickets/{ticket['number']}/comments", headers=agent.headers,
                          json={"body": "Please update the audio driver and restart Teams."})
    assert r.status_code == 201, r.text
    await drain(worker)

    assert smtp.sink.wait_for(before + 1)
    [update] = [r.message for r in smtp.sink.received[before:] if alice.user.email in r.rcpt_tos]
    assert update["Subject"] == f"[{ticket['number']}] {ticket['title']}"
    assert first_id in update["References"].split()
    assert "Please update the audio driver and restart Teams." in update.get_content()
