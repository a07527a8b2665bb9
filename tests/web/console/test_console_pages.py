"""The agent console's pages over a signed-in session: roles, queues and counts, search, the ticket forms (with
CSRF), bulk actions and the queue's ETag."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import httpx
import psycopg
import pytest
from console_support import signed_in_agent, team_ticket
from signin_support import sign_in

from api.auth import service as people
from api.auth.models import Role
from api.channels import Channel
from api.chat import service as chat
from api.settings import Settings
from api.tickets import service as tickets
from api.tickets.models import Assignment, TicketCreate

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _count(page: httpx.Response, queue: str) -> int:
    found = re.search(rf'data-count="{queue}">(\d+)<', page.text)
    assert found, f"no count of {queue}"
    return int(found.group(1))


async def test_an_employee_may_not_open_the_console(web: httpx.AsyncClient, conn: psycopg.AsyncConnection,
                                                    web_settings: Settings, make_actor) -> None:
    employee = await make_actor(Role.employee)
    await sign_in(web, conn, web_settings, user_id=employee.user.id)
    assert (await web.get("/console")).status_code == 403
    assert (await web.get("/console/queue.json")).status_code == 403


async def test_an_agent_sees_their_queues_with_counts_and_can_search(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    word = f"printer{uuid.uuid4().hex[:6]}"
    first = await team_ticket(conn, desk, f"The {word} jams")
    await team_ticket(conn, desk, "VPN drops every hour")
    await tickets.assign(conn, principal=desk.agent, ref=first.number,  # type: ignore[arg-type]
                         data=Assignment(assignee_id=desk.agent.id))

    mine = await web.get("/console")
    assert _count(mine, "mine") == 1 and _count(mine, "teams") == 2
    assert first.number in mine.text and "VPN drops" not in mine.text
    teams = await web.get("/console", params={"queue": "teams"})
    assert first.number in teams.text and "VPN drops every hour" in teams.text
    found = await web.get("/console", params={"queue": "teams", "q": word})
    assert first.number in found.text and "VPN drops" not in found.text


async def test_the_ticket_forms_reply_note_assign_and_transition(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "Outlook asks for my password", "Outlook keeps asking. Since Monday.")
    url = f"/console/tickets/{ticket.number}"
    page = await web.get(url)
    assert page.status_code == 200 and "Outlook keeps asking. Since Monday." in page.text

    reply = await web.post(f"{url}/comments", data={"csrf_token": desk.csrf, "body": "Try signing out."})
    assert reply.status_code == 303 and reply.headers["location"] == f"{url}?done=replied"
    note = await web.post(f"{url}/comments", data={"csrf_token": desk.csrf, "body": "Known MFA issue",
                                                   "internal": "true"})
    assert note.status_code == 303
    comments, _ = await tickets.list_comments(conn, principal=desk.agent, ref=ticket.id)  # type: ignore[arg-type]
    assert [(c.body, c.internal) for c in comments] == [("Try signing out.", False), ("Known MFA issue", True)]

    refused = await web.post(f"{url}/transition", data={"csrf_token": desk.csrf, "status": "in_progress"})
    assert refused.status_code == 409 and "Assign the ticket before" in refused.text  # on the page, not JSON
    assert refused.headers["content-type"].startswith("text/html")
    invalid = await web.post(f"{url}/transition", data={"csrf_token": desk.csrf, "status": "bogus"})
    assert invalid.status_code == 422 and 'role="alert"' in invalid.text and "Input should be" in invalid.text
    assigned = await web.post(f"{url}/assign", data={"csrf_token": desk.csrf, "assignee": "me"})
    assert assigned.status_code == 303
    resolved = await web.post(f"{url}/transition", data={"csrf_token": desk.csrf, "status": "resolved"})
    assert resolved.status_code == 303
    after = await tickets.get_or_raise(conn, principal=desk.agent, ref=ticket.id)  # type: ignore[arg-type]
    assert after.status == "resolved" and after.assignee_id == desk.agent.id
    assert "Status changed." in (await web.get(f"{url}?done=moved")).text


async def test_forms_without_the_csrf_token_are_refused(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "No CSRF here")
    url = f"/console/tickets/{ticket.number}"
    for path, data in [("comments", {"body": "hi"}), ("transition", {"status": "resolved"}),
                       ("assign", {"assignee": "me"})]:
        assert (await web.post(f"{url}/{path}", data=data)).status_code == 403
    bulk = await web.post("/console/bulk", data={"action": "assign", "ticket": ticket.number})
    assert bulk.status_code == 403
    assert (await tickets.get_or_raise(conn, principal=desk.agent, ref=ticket.id)).assignee_id is None  # type: ignore[arg-type]


async def test_bulk_actions_change_every_selected_ticket(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    one, two = [await team_ticket(conn, desk, f"Bulk {n}") for n in (1, 2)]
    numbers = [one.number, two.number]
    taken = await web.post("/console/bulk", data={"csrf_token": desk.csrf, "action": "assign", "ticket": numbers})
    assert taken.status_code == 303
    noted = await web.post("/console/bulk", data={"csrf_token": desk.csrf, "action": "note", "note": "Batch",
                                                  "ticket": numbers})
    assert noted.status_code == 303
    for t in (one, two):
        again = await tickets.get_or_raise(conn, principal=desk.agent, ref=t.id)  # type: ignore[arg-type]
        comments, _ = await tickets.list_comments(conn, principal=desk.agent, ref=t.id)  # type: ignore[arg-type]
        assert again.assignee_id == desk.agent.id and [c.body for c in comments] == ["Batch"]


async def test_the_queue_etag_is_304_until_a_ticket_changes(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "Watch me")
    first = await web.get("/console/queue.json", params={"queue": "teams"}, headers={"Accept": "application/json"})
    assert first.status_code == 200 and ticket.number in first.json()["tickets"]
    etag = first.headers["etag"]
    same = await web.get("/console/queue.json", params={"queue": "teams"}, headers={"If-None-Match": etag})
    assert same.status_code == 304
    await tickets.assign(conn, principal=desk.agent, ref=ticket.id,  # type: ignore[arg-type]
                         data=Assignment(assignee_id=desk.agent.id))
    changed = await web.get("/console/queue.json", params={"queue": "teams"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_the_ticket_page_shows_the_chat_and_an_extractive_summary_with_the_last_employee_message(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    employee = await people.get_or_raise(conn, user_id=desk.employee_id)  # type: ignore[arg-type]
    conversation = str(await chat.start(conn, channel=Channel.web, employee=employee,  # type: ignore[arg-type]
                                        channel_user=None))
    for direction, text in [("user", "my laptop will not charge"), ("bot", "Is the light on?"),
                            ("user", "no light at all")]:
        await chat.store(conn, conversation, direction, text)  # type: ignore[arg-type]
    await chat.store(conn, conversation, "bot", "Shall I open a ticket?",  # type: ignore[arg-type]
                     payload={"buttons": [{"title": "Yes, open a ticket", "payload": "/affirm"}]})
    await chat.store(conn, conversation, "user", "/affirm")  # type: ignore[arg-type]  # the button pressed
    ticket, _ = await tickets.create(conn, principal=desk.agent, data=TicketCreate(  # type: ignore[arg-type]
        title="Laptop will not charge", description="The charger is dead. Tried another socket. Third sentence.",
        team=desk.team, requester_id=desk.employee_id, integration_metadata={"conversation_id": conversation}))
    page = await web.get(f"/console/tickets/{ticket.number}")
    summary = re.search(r'<p id="summary">(.*?)</p>', page.text, re.S)
    assert summary and summary.group(1) == ("The charger is dead. Tried another socket. "
                                            "Last from the employee: “no light at all”")
    assert "Is the light on?" in page.text  # the transcript as the employee saw it
    assert "Employee:</span> Yes, open a ticket</li>" in page.text and "/affirm" not in page.text


async def test_a_category_correction_goes_through_the_ticket_service(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "Wrongly filed")
    category = (await tickets.list_categories(conn))[0]  # type: ignore[arg-type]
    url = f"/console/tickets/{ticket.number}"
    done = await web.post(f"{url}/classification", data={"csrf_token": desk.csrf, "category": category.slug,
                                                         "urgency": "1", "impact": "1"})
    assert done.status_code == 303
    events, _ = await tickets.list_events(conn, principal=desk.agent, ref=ticket.id)  # type: ignore[arg-type]
    assert events[-1].kind == "updated" and events[-1].after == {"category_id": category.id, "urgency": 1,
                                                                  "impact": 1, "priority": 1}


class _Llm:
    """A chat model double with langchain's ``ainvoke`` shape; ``fail`` makes it raise like a dead server."""

    def __init__(self, *, fail: bool) -> None:
        self.fail, self.asked = fail, []

    async def ainvoke(self, messages):
        self.asked.append(messages)
        if self.fail:
            raise ConnectionError("model server down")
        return SimpleNamespace(content="Charger dead; the employee needs a new one.")


@pytest.mark.parametrize("fail", [False, True])
async def test_the_summary_comes_from_the_llm_when_configured_and_falls_back_when_it_fails(
        web: httpx.AsyncClient, web_asgi, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor,
        make_team, fail: bool) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    ticket = await team_ticket(conn, desk, "Charger", "The charger is dead.")
    app, llm = web_asgi[0], _Llm(fail=fail)
    before, app.state.llm = app.state.llm, llm
    try:
        page = await web.get(f"/console/tickets/{ticket.number}")
    finally:
        app.state.llm = before
    summary = re.search(r'<p id="summary">(.*?)</p>', page.text, re.S)
    assert llm.asked and "The charger is dead." in llm.asked[0][1][1]
    assert summary and summary.group(1) == ("The charger is dead." if fail
                                            else "Charger dead; the employee needs a new one.")


async def test_a_refused_bulk_change_is_listed_and_the_others_are_made(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    held, free = [await team_ticket(conn, desk, f"Bulk move {n}") for n in (1, 2)]
    await tickets.assign(conn, principal=desk.agent, ref=held.id,  # type: ignore[arg-type]
                         data=Assignment(assignee_id=desk.agent.id))
    moved = await web.post("/console/bulk", data={"csrf_token": desk.csrf, "action": "transition",
                                                  "status": "in_progress", "ticket": [held.number, free.number]})
    assert moved.status_code == 409 and f"{free.number}: Assign the ticket before" in moved.text
    assert held.number not in moved.text
    assert (await tickets.get_or_raise(conn, principal=desk.agent, ref=held.id)).status == "in_progress"  # type: ignore[arg-type]


async def test_the_queue_pages_through_its_tickets_and_keeps_the_filters(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team) -> None:
    desk = await signed_in_agent(web, conn, web_settings, make_actor, make_team)
    made = [await team_ticket(conn, desk, f"Paged {n}") for n in range(26)]
    first = await web.get("/console", params={"queue": "teams", "priority": "5"})
    assert made[-1].number in first.text and f'"{made[0].number}"' not in first.text
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following and "priority=5" in following.group(1)
    second = await web.get(following.group(1).replace("&amp;", "&"))
    assert f'data-ticket="{made[0].number}"' in second.text and f'data-ticket="{made[1].number}"' not in second.text
