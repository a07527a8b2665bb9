"""Mail read from a real Dovecot becomes tickets and comments, exactly once; machine mail is recorded, never answered."""

from __future__ import annotations

import uuid

import pytest
from email_support import corpus, make_mailbox, message, messages, send_answers

from api.auth import service as people
from api.auth.models import Role
from api.channels.email import ingest

TICKETS = ["alternative.eml", "latin1.eml", "cp1252.eml", "forwarded.eml", "html_only.eml", "inline_image.eml",
           "oversized_attachment.eml", "malformed.eml"]
IGNORED = ["auto_reply.eml", "bounce.eml"]


async def _ticket(conn, ticket_id: int) -> dict:
    return await (await conn.execute("SELECT * FROM tickets WHERE id = %s", (ticket_id,))).fetchone()


async def _comments(conn, ticket_id: int) -> list[dict]:
    cur = await conn.execute("SELECT * FROM ticket_comments WHERE ticket_id = %s ORDER BY id", (ticket_id,))
    return list(await cur.fetchall())


async def test_corpus_becomes_tickets_and_machine_mail_is_ignored(conn, mail_settings, dovecot, make_actor, smtp):
    alice = await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot)
    for name in TICKETS + IGNORED:
        box.append(corpus(name, sender=alice.user.email))

    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)

    assert result.error is None and result.outcomes == {"ticket": len(TICKETS), "ignored": len(IGNORED)}
    rows = {r["message_id"]: r for r in await messages(conn, box.id)}
    tickets = {mid: await _ticket(conn, r["ticket_id"]) for mid, r in rows.items() if r["outcome"] == "ticket"}
    assert all(t["requester_id"] == alice.user.id and t["source_type"] == "EMAIL" and t["source_reference"] == mid
               for mid, t in tickets.items())
    text = {mid: t["description"] for mid, t in tickets.items()}
    assert "drops every 10 minutes since this morning — I'm on the GlobalProtect client." in text["<CAalt001@mail.example.com>"]
    assert "L'imprimante du 2e étage est bloquée" in text["<latin1-0001@mail.example.com>"]
    assert tickets["<latin1-0001@mail.example.com>"]["title"] == "Imprimante bloquée"
    assert "“Total: 1 200 €”" in text["<cp1252-0001@mail.example.com>"]
    assert "98% of its quota" in text["<fwd-0001@mail.example.com>"]  # the forwarded chain is kept on a new ticket
    html = text["<html-0001@mail.example.com>"]
    assert "My laptop screen flickers when on battery." in html and "<" not in html and "alert(" not in html
    assert "not kept: larger than 1024 bytes" in text["<big-0001@mail.example.com>"]
    assert "MIME structure is damaged" in text["<broken-0001@mail.example.com>"]
    assert "scanner on floor 3" in text["<broken-0001@mail.example.com>"]
    files = await (await conn.execute(
        "SELECT filename, size FROM email_attachments a JOIN email_messages e ON e.id = a.email_message_id "
        "WHERE e.mailbox_id = %s ORDER BY a.id", (box.id,))).fetchall()
    names = [f["filename"] for f in files]
    assert "screenshot.png" in names and "note.txt" in names and "crash.log" not in names
    ignored = [r for r in rows.values() if r["outcome"] == "ignored"]
    assert sorted(r["reason"] for r in ignored) == ["auto-submitted (auto-replied)", "delivery-status report"]
    assert all(seen for _, seen in box.state())  # processed mail is flagged \Seen

    answered = await send_answers(conn, mail_settings, box.id)

    assert answered == ["ack"] * len(TICKETS)  # the auto-reply and the bounce get no answer
    assert smtp.sink.wait_for(len(TICKETS))
    acks = {m.message["In-Reply-To"].strip(): m.message for m in smtp.sink.received}
    assert set(acks) == set(tickets)
    for mid, ack in acks.items():
        assert ack["References"].strip() == mid and ack["Auto-Submitted"] == "auto-replied"
        assert f"[{tickets[mid]['number']}]" in ack["Subject"] and ack["To"] == alice.user.email
    out = [r for r in await messages(conn, box.id) if r["direction"] == "out"]
    assert {r["message_id"] for r in out} == {a["Message-ID"].strip() for a in acks.values()}


async def test_replies_thread_as_comments(conn, mail_settings, dovecot, make_actor, smtp):
    alice, bob = await make_actor(Role.employee), await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot)
    first, first_id = message(sender=alice.user.email, subject="Outlook crashes", body="Outlook crashes at start.")
    box.append(first)
    await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    await send_answers(conn, mail_settings, box.id)
    assert smtp.sink.wait_for(1)
    ack = smtp.sink.received[0].message
    ticket_id = (await messages(conn, box.id))[0]["ticket_id"]
    number = (await _ticket(conn, ticket_id))["number"]

    reply, _ = message(sender=alice.user.email, subject=f"Re: {ack['Subject']}",
                       body=f"It still crashes after a restart.\r\n\r\nOn Mon, 7 Dec 2026, Desk wrote:\r\n> {number}",
                       headers={"In-Reply-To": ack["Message-ID"].strip(),
                                "References": f"{first_id} {ack['Message-ID'].strip()}"})
    tagged, _ = message(sender=alice.user.email, subject=f"more info [{number}]", body="Version 2312.\r\n> old text")
    stranger, _ = message(sender=bob.user.email, subject=f"Re: [{number}]", body="Me too!",
                          headers={"In-Reply-To": first_id})
    for raw in (reply, tagged, stranger):
        box.append(raw)
    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)

    assert result.outcomes == {"comment": 2, "rejected": 1}
    comments = await _comments(conn, ticket_id)
    assert [c["body"] for c in comments] == ["It still crashes after a restart.", "Version 2312."]
    assert all(c["author_id"] == alice.user.id and not c["internal"] for c in comments)
    assert await send_answers(conn, mail_settings, box.id) == []  # comments are not acknowledged


async def test_reprocessing_creates_no_duplicates(conn, mail_settings, dovecot, make_actor):
    alice = await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot)
    for name in ("alternative.eml", "latin1.eml", "auto_reply.eml"):
        box.append(corpus(name, sender=alice.user.email))
    await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    before = await messages(conn, box.id)
    count = "SELECT count(*) AS n FROM tickets WHERE requester_id = %s"
    tickets_before = (await (await conn.execute(count, (alice.user.id,))).fetchone())["n"]

    # a worker killed after its commits but before the mail was flagged: the cursor rolls back, the mail is read again
    await conn.execute("UPDATE mailboxes SET last_uid = 0 WHERE id = %s", (box.id,))
    again = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    # the server renumbered the folder (a new UIDVALIDITY): everything is read again
    await conn.execute("UPDATE mailboxes SET uidvalidity = 1, last_uid = 99 WHERE id = %s", (box.id,))
    renumbered = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)

    assert again.outcomes == {"duplicate": 3} and renumbered.outcomes == {"duplicate": 3}
    assert await messages(conn, box.id) == before
    assert (await (await conn.execute(count, (alice.user.id,))).fetchone())["n"] == tickets_before == 2
    cursor = await (await conn.execute("SELECT uidvalidity, last_uid FROM mailboxes WHERE id = %s", (box.id,))).fetchone()
    assert cursor["uidvalidity"] != 1 and cursor["last_uid"] == 3


@pytest.mark.parametrize("policy", ["reject", "create_contact"])
async def test_unknown_sender_policy(conn, mail_settings, dovecot, smtp, policy):
    stranger = f"new-{uuid.uuid4().hex[:8]}@partner.example.com"
    box = await make_mailbox(conn, mail_settings, dovecot, unknown_sender=policy)
    raw, mid = message(sender=f"New Person <{stranger}>", subject="Need access", body="Please give me access.")
    box.append(raw)

    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)
    answered = await send_answers(conn, mail_settings, box.id)

    user = await people.get_by_email(conn, email=stranger)
    assert smtp.sink.wait_for(1)
    answer = smtp.sink.received[0].message
    assert answer["To"] == stranger and answer["In-Reply-To"].strip() == mid
    assert answer["Auto-Submitted"] == "auto-replied"
    if policy == "reject":
        assert result.outcomes == {"rejected": 1} and answered == ["reject"] and user is None
        assert "only takes requests from people of our organisation" in answer.get_content()
    else:
        assert result.outcomes == {"ticket": 1} and answered == ["ack"]
        assert user is not None and user.role is Role.employee and user.name == "New Person"
        row = (await messages(conn, box.id))[0]
        assert (await _ticket(conn, row["ticket_id"]))["requester_id"] == user.id


async def test_processed_mail_moves_and_an_oversized_message_still_makes_a_ticket(conn, mail_settings, dovecot,
                                                                                  make_actor):
    alice = await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot, processed_folder="Processed")
    raw, mid = message(sender=alice.user.email, subject="Huge log", body="x" * (70 * 1024))
    box.append(raw)
    box.append(corpus("html_only.eml", sender=alice.user.email))

    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)

    assert result.outcomes == {"ticket": 2}
    assert box.state("INBOX") == [] and len(box.state("Processed")) == 2
    row = next(r for r in await messages(conn, box.id) if r["message_id"] == mid)
    ticket = await _ticket(conn, row["ticket_id"])
    assert ticket["title"] == "Huge log" and "over the limit" in ticket["description"]


async def test_a_mailbox_that_cannot_be_read_records_the_error(conn, mail_settings, dovecot):
    box = await make_mailbox(conn, mail_settings, dovecot)
    await conn.execute("UPDATE mailboxes SET folder = 'NoSuchFolder' WHERE id = %s", (box.id,))

    result = await ingest.poll_mailbox(conn, mail_settings, mailbox_id=box.id)

    row = await (await conn.execute("SELECT last_error, last_polled_at FROM mailboxes WHERE id = %s", (box.id,))).fetchone()
    assert result.error and "IMAP" in result.error and row["last_error"] == result.error
    assert box.password not in result.error
