"""Users and groups: GLPI users matched by e-mail and groups by the connector's map, both ways; unknown ones are
left alone."""

from __future__ import annotations

import json

from sync_support import open_ticket, remote_by_number, run_worker, staff

from api.integrations.sync import engine
from api.tickets import service as tickets
from api.tickets.models import Assignment


async def _map_groups(conn, connector, groups):
    await conn.execute("UPDATE sync_connectors SET config = config || %s::jsonb WHERE id = %s",
                       (json.dumps({"groups": groups}), connector.id))


async def test_a_new_glpi_ticket_gets_the_requester_technician_and_group_by_email_and_map(
        conn, glpi, connector, make_actor, make_team, sync_settings):
    people = glpi.fake.people
    team = await make_team()
    employee, agent = await make_actor(), await make_actor("agent", teams=(team,))
    requester = people.add_user("alice", employee.user.email.upper())  # e-mails match whatever their case
    technician = people.add_user("bob", agent.user.email)
    group = people.add_group("Service desk")
    await _map_groups(conn, connector, {team: group})
    ticket = await open_ticket(conn, employee, "Monitor flickers")
    await tickets.assign(conn, principal=staff(agent), ref=ticket.id,
                         data=Assignment(assignee_id=agent.user.id, team=team))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert people.actors(remote["id"], "user", 1) == [requester]
    assert people.actors(remote["id"], "user", 2) == [technician]
    assert people.actors(remote["id"], "group", 2) == [group]
    assert employee.user.email not in remote["content"]


async def test_a_requester_glpi_does_not_know_is_named_in_the_content(conn, glpi, connector, make_actor,
                                                                      sync_settings):
    employee = await make_actor()
    ticket = await open_ticket(conn, employee, "Cannot print", description="Nothing comes out")
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    assert glpi.fake.people.actors(remote["id"], "user", 1) == []
    assert remote["content"].startswith("Nothing comes out")
    assert f"Requester: {employee.user.email}" in remote["content"]


async def test_an_assignment_made_in_glpi_reaches_the_ticket_through_the_service_once(
        conn, glpi, connector, make_actor, make_team, sync_settings):
    people = glpi.fake.people
    team = await make_team()
    agent = await make_actor("agent", teams=(team,))
    technician, group = people.add_user("carol", agent.user.email), people.add_group("Field support")
    await _map_groups(conn, connector, {team: group})
    employee = await make_actor()
    first = await open_ticket(conn, employee, "Dock not detected")
    second = await open_ticket(conn, employee, "Second screen black")
    await run_worker(sync_settings)
    remotes = [remote_by_number(glpi.fake, t.number)[0] for t in (first, second)]
    for remote in remotes:
        glpi.fake.assign(remote["id"], user_id=technician, group_id=group)
    sent = len(glpi.fake.requests)
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert polled.error is None
    for ticket in (first, second):
        after = await tickets.get_or_raise(conn, principal=staff(agent), ref=ticket.id)
        assert (after.assignee_id, after.team) == (agent.user.id, team)
        [event] = await (await conn.execute("SELECT meta FROM ticket_events WHERE ticket_id = %s AND kind = 'assigned' "
                                            "AND meta ? 'sync'", (ticket.id,))).fetchall()
        assert event["meta"]["sync"] == connector.name
    lookups = [r.path for r in glpi.fake.requests[sent:] if r.path.endswith(f"/User/{technician}/UserEmail")]
    assert len(lookups) == 1  # cached for the run
    await run_worker(sync_settings)
    assert [r.method for r in glpi.fake.requests[sent:] if r.method in ("PUT", "POST")] == []  # no echo


async def test_unknown_glpi_users_and_groups_are_left_alone(conn, glpi, connector, make_actor, sync_settings):
    people = glpi.fake.people
    employee = await make_actor()
    ticket = await open_ticket(conn, employee, "Keyboard missing keys")
    await run_worker(sync_settings)
    before = await tickets.get_or_raise(conn, principal=staff(employee), ref=ticket.id)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    stranger = people.add_user("dave", "dave@elsewhere.example")
    glpi.fake.assign(remote["id"], user_id=stranger, group_id=people.add_group("Not mapped"))
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert polled.error is None and polled.pulled >= 1
    after = await tickets.get_or_raise(conn, principal=staff(employee), ref=ticket.id)
    assert (after.assignee_id, after.team) == (before.assignee_id, before.team)


async def _assigned_pair(conn, glpi, connector, make_actor, make_team, names):
    """Agents in their own mapped teams, each a GLPI technician with their e-mail."""
    pairs, groups = [], {}
    for name in names:
        team = await make_team()
        agent = await make_actor("agent", teams=(team,))
        groups[team] = glpi.fake.people.add_group(name)
        pairs.append((agent, team, glpi.fake.people.add_user(name, agent.user.email), groups[team]))
    await _map_groups(conn, connector, groups)
    return pairs


async def test_a_reassignment_in_deskmate_replaces_glpis_technician_and_group(
        conn, glpi, connector, make_actor, make_team, sync_settings):
    (first, first_team, _, _), (second, second_team, tech, group) = await _assigned_pair(
        conn, glpi, connector, make_actor, make_team, ["erin", "frank"])
    ticket = await open_ticket(conn, await make_actor(), "Phone not ringing")
    await tickets.assign(conn, principal=staff(first), ref=ticket.id,
                         data=Assignment(assignee_id=first.user.id, team=first_team))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    await tickets.assign(conn, principal=staff(first), ref=ticket.id,
                         data=Assignment(assignee_id=second.user.id, team=second_team))
    await run_worker(sync_settings)
    assert glpi.fake.people.actors(remote["id"], "user", 2) == [tech]
    assert glpi.fake.people.actors(remote["id"], "group", 2) == [group]
    polled = await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    assert polled.error is None
    after = await tickets.get_or_raise(conn, principal=staff(second), ref=ticket.id)
    assert (after.assignee_id, after.team) == (second.user.id, second_team)  # nothing bounced back


async def test_a_reassignment_on_both_sides_keeps_glpis_and_records_a_conflict(
        conn, glpi, connector, make_actor, make_team, sync_settings):
    (first, first_team, _, _), (second, second_team, _, _), (third, third_team, tech, group) = await _assigned_pair(
        conn, glpi, connector, make_actor, make_team, ["gina", "hank", "ida"])
    ticket = await open_ticket(conn, await make_actor(), "Scanner offline")
    await tickets.assign(conn, principal=staff(first), ref=ticket.id,
                         data=Assignment(assignee_id=first.user.id, team=first_team))
    await run_worker(sync_settings)
    [remote] = remote_by_number(glpi.fake, ticket.number)
    await engine.poll(conn, connector_id=connector.id, settings=sync_settings)  # the link has seen GLPI's actors
    glpi.fake.assign(remote["id"], user_id=tech, group_id=group)                       # GLPI: ida
    await tickets.assign(conn, principal=staff(first), ref=ticket.id,                  # deskmate: hank
                         data=Assignment(assignee_id=second.user.id, team=second_team))
    await run_worker(sync_settings)
    assert glpi.fake.people.actors(remote["id"], "user", 2)[-1] == tech  # GLPI's kept
    conflicts = await (await conn.execute("SELECT field, local_value, remote_value FROM sync_conflicts "
                                          "WHERE ticket_id = %s ORDER BY field", (ticket.id,))).fetchall()
    assert [(c["field"], c["local_value"], c["remote_value"]) for c in conflicts] == [
        ("assignee_id", second.user.id, tech), ("team", second_team, group)]
    await engine.poll(conn, connector_id=connector.id, settings=sync_settings)
    after = await tickets.get_or_raise(conn, principal=staff(third), ref=ticket.id)
    assert (after.assignee_id, after.team) == (third.user.id, third_team)  # GLPI's applied here
