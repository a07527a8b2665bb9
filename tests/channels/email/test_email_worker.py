"""The worker runs the e-mail tasks: the poll (periodic, every minute) and the answers it queues."""

from __future__ import annotations

from email_support import make_mailbox, message, messages
from fakes.triage import drain

from api import jobs
from api.auth.models import Role
from api.jobs import registry


def test_poll_is_periodic_on_its_own_queue():
    app = jobs.make_app()
    assert "email" in jobs.QUEUES and "api.channels.email.tasks" in registry.TASK_MODULES
    assert {"email.poll", "email.answer"} <= set(app.tasks)
    assert any(p.task.name == "email.poll" and p.cron == "* * * * *" for p in app.periodic_registry.periodic_tasks.values())


async def test_the_worker_polls_and_answers(conn, mail_settings, dovecot, make_actor, smtp):
    alice = await make_actor(Role.employee)
    box = await make_mailbox(conn, mail_settings, dovecot)
    raw, mid = message(sender=alice.user.email, subject="Wi-Fi is slow", body="The Wi-Fi on floor 2 is slow.")
    box.append(raw)
    await jobs.defer(conn, "email.poll", queue="email", timestamp=0)

    await drain(mail_settings, queues=["email"])  # the poll, then the acknowledgement it queued

    row = (await messages(conn, box.id))[0]
    assert row["message_id"] == mid and row["outcome"] == "ticket"
    assert smtp.sink.wait_for(1) and smtp.sink.received[0].message["In-Reply-To"].strip() == mid
