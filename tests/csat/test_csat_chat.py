"""CSAT in the widget: a resolution asks once with 1–5 buttons in the transcript, a press is the rating, stored by
who resolved the ticket; only the requester rates, and only once."""

from __future__ import annotations

from csat_support import resolve, send_now, survey_of, ticket_from, widget
from fakes.triage import drain, worker_settings

from api.auth.models import Role
from api.workflows import engine


async def _bot_messages(client, conversation: str, headers: dict[str, str]) -> list[dict]:
    r = await client.get(f"/api/v1/chat/conversations/{conversation}/messages", headers=headers)
    assert r.status_code == 200, r.text
    return [m for m in r.json()["messages"] if m["direction"] == "bot"]


async def _job(conn, survey_id: int) -> dict:
    return await (await conn.execute(
        "SELECT id, status, extract(epoch FROM scheduled_at - now()) AS due_in_s FROM procrastinate_jobs "
        "WHERE task_name = 'csat.send_survey' AND args->>'survey_id' = %s", (str(survey_id),))).fetchone()


async def _press(client, conversation: str, headers: dict[str, str], payload: str) -> str:
    r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", headers=headers,
                          json={"text": payload})
    assert r.status_code == 200, r.text
    [reply] = r.json()["messages"]
    return reply["text"]


async def test_an_agents_resolution_asks_once_in_the_widget_and_a_press_is_stored_as_a_person_rating(
        client, conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)

    r = await client.post(f"/api/v1/tickets/{ticket['number']}/transition", headers=agent.headers,
                          json={"status": "resolved", "reason": "Replaced the dock."})
    assert r.status_code == 200, r.text
    survey = await survey_of(conn, ticket["id"])
    job = await _job(conn, survey["id"])
    assert job["status"] == "todo" and job["due_in_s"] > 30  # DESKMATE_CSAT_DELAY_S: the resolution's update first
    await conn.execute("UPDATE procrastinate_jobs SET scheduled_at = now() WHERE id = %s", (job["id"],))  # later
    await drain(worker_settings(settings), queues=["csat"])  # the real worker sends it

    asking = [m for m in await _bot_messages(client, conversation, headers) if m["buttons"]]
    survey = await survey_of(conn, ticket["id"])
    assert len(asking) == 1 and ticket["number"] in asking[0]["text"]
    assert [b["title"] for b in asking[0]["buttons"]] == ["1", "2", "3", "4", "5"]
    assert asking[0]["buttons"][3]["payload"] == f"deskmate:csat:{survey['id']}:4"
    assert (survey["status"], survey["channel"], str(survey["conversation_id"])) == ("sent", "web", conversation)

    reply = await _press(client, conversation, headers, asking[0]["buttons"][3]["payload"])
    assert reply == f"Thank you for rating {ticket['number']}: 4 out of 5."
    survey = await survey_of(conn, ticket["id"])
    assert (survey["score"], survey["resolved_by"], survey["resolver_id"]) == (4, "person", agent.user.id)
    assert survey["answered_at"] is not None

    again = await _press(client, conversation, headers, f"deskmate:csat:{survey['id']}:1")
    assert again == f"You have already rated {ticket['number']} — thank you!"
    assert (await survey_of(conn, ticket["id"]))["score"] == 4


async def test_after_rating_the_requester_can_add_a_comment_with_the_next_message_only(
        client, conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    await resolve(conn, await principal_of(agent), ticket["id"])
    await send_now(conn, settings, ticket["id"])
    survey = await survey_of(conn, ticket["id"])
    comment = f"deskmate:csat:{survey['id']}:comment"
    assert await _press(client, conversation, headers, comment) == (
        f"There is already a comment on {ticket['number']}, or it has not been rated yet.")

    r = await client.post(f"/api/v1/chat/conversations/{conversation}/messages", headers=headers,
                          json={"text": f"deskmate:csat:{survey['id']}:5"})
    assert r.json()["messages"][0]["buttons"] == [{"title": "Add a comment", "payload": comment}]
    assert await _press(client, conversation, headers, comment) == (
        f"What would you like to add? Your next message here is kept as your comment on {ticket['number']}.")
    assert await _press(client, conversation, headers, "Quick and friendly.") == (
        f"Thank you, your comment on {ticket['number']} is noted.")
    after = await _press(client, conversation, headers, "How do I map a network drive?")  # a turn for the bot again

    survey = await survey_of(conn, ticket["id"])
    assert (survey["score"], survey["comment"], survey["comment_prompt_id"]) == (5, "Quick and friendly.", None)
    assert "noted" not in after
    assert await _press(client, conversation, headers, comment) == (
        f"There is already a comment on {ticket['number']}, or it has not been rated yet.")


async def test_a_workflow_resolution_is_rated_as_the_bots(client, conn, settings, make_actor, principal_of):
    employee = await make_actor()
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    bot = await engine.system_actor(conn)

    await resolve(conn, bot, ticket["id"], resolution="auto")
    assert await send_now(conn, settings, ticket["id"]) == "sent"
    survey = await survey_of(conn, ticket["id"])
    await _press(client, conversation, headers, f"deskmate:csat:{survey['id']}:5")

    survey = await survey_of(conn, ticket["id"])
    assert (survey["score"], survey["resolved_by"], survey["resolver_id"]) == (5, "bot", bot.id)


async def test_someone_elses_conversation_cannot_rate(client, conn, settings, make_actor, principal_of):
    employee, other, agent = await make_actor(), await make_actor(), await make_actor(Role.admin)
    conversation, _ = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    await resolve(conn, await principal_of(agent), ticket["id"])
    await send_now(conn, settings, ticket["id"])
    survey = await survey_of(conn, ticket["id"])

    theirs, their_headers = await widget(client, settings, other.user.email)
    reply = await _press(client, theirs, their_headers, f"deskmate:csat:{survey['id']}:1")
    anonymous, anonymous_headers = await _anonymous(client)
    reply_anonymous = await _press(client, anonymous, anonymous_headers, f"deskmate:csat:{survey['id']}:1")

    assert reply == reply_anonymous == "I can only take a rating from the person the ticket is for."
    assert (await survey_of(conn, ticket["id"]))["score"] is None


async def _anonymous(client) -> tuple[str, dict[str, str]]:
    r = await client.post("/api/v1/chat/conversations", json={})
    assert r.status_code == 201, r.text
    return r.json()["conversation_id"], {"X-Chat-Session": r.json()["session_token"]}


async def test_a_retried_send_does_not_ask_twice_and_a_second_resolution_asks_nothing(
        client, conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    staff = await principal_of(agent)
    await resolve(conn, staff, ticket["id"])

    assert await send_now(conn, settings, ticket["id"]) == "sent"
    assert await send_now(conn, settings, ticket["id"]) == "sent"  # the job again: a retry, a duplicate
    first = await survey_of(conn, ticket["id"])
    r = await client.post(f"/api/v1/tickets/{ticket['number']}/transition", headers=employee.headers,
                          json={"status": "in_progress", "reason": "still broken"})
    assert r.status_code == 200, r.text
    await resolve(conn, staff, ticket["id"])

    asking = [m for m in await _bot_messages(client, conversation, headers) if m["buttons"]]
    assert len(asking) == 1
    assert (await survey_of(conn, ticket["id"]))["id"] == first["id"]


async def test_a_ticket_reopened_before_its_survey_went_out_is_asked_after_its_next_resolution(
        client, conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    staff, bot = await principal_of(agent), await engine.system_actor(conn)
    await resolve(conn, bot, ticket["id"], resolution="auto")
    r = await client.post(f"/api/v1/tickets/{ticket['number']}/transition", headers=employee.headers,
                          json={"status": "in_progress", "reason": "still broken"})
    assert r.status_code == 200, r.text

    assert await send_now(conn, settings, ticket["id"]) == "skipped"  # the first job, due after the reopening
    await resolve(conn, staff, ticket["id"])
    assert await send_now(conn, settings, ticket["id"]) == "sent"

    survey = await survey_of(conn, ticket["id"])
    assert (survey["resolved_by"], survey["resolver_id"], survey["error"]) == ("person", agent.user.id, None)
    assert len([m for m in await _bot_messages(client, conversation, headers) if m["buttons"]]) == 1


async def test_a_ticket_with_no_origin_is_not_asked(conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    ticket = await ticket_from(conn, await principal_of(employee), source="WEB")  # type: ignore[arg-type]
    await resolve(conn, await principal_of(agent), ticket["id"])

    assert await send_now(conn, settings, ticket["id"]) == "skipped"
    assert (await survey_of(conn, ticket["id"]))["error"].startswith("the ticket did not come from a chat")


async def test_turned_off_nothing_is_sent(client, conn, settings, make_actor, principal_of):
    employee, agent = await make_actor(), await make_actor(Role.admin)
    conversation, headers = await widget(client, settings, employee.user.email)
    ticket = await ticket_from(conn, await principal_of(employee), conversation_id=conversation)
    await resolve(conn, await principal_of(agent), ticket["id"])

    off = settings.model_copy(update={"csat_enabled": False})
    assert await send_now(conn, off, ticket["id"]) == "skipped"
    assert [m for m in await _bot_messages(client, conversation, headers) if m["buttons"]] == []
