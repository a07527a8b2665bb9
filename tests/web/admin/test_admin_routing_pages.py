"""The routing admin page over a signed-in session: the rules the service has, creating, editing and deleting one
through the forms (validated by RuleIn), the dry run as POST /api/v1/routing/test answers it, roles and CSRF."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from admin_support import field_error, field_value, signed_in, unique

from api.auth.models import Role
from api.routing import rules
from api.routing.models import Conditions, RuleIn
from api.settings import Settings

PAGE = "/console/admin/routing"


@pytest.fixture
async def cleanup(conn: psycopg.AsyncConnection) -> AsyncIterator[list[str]]:
    """Names of the rules a test makes; they are deleted after it."""
    names: list[str] = []
    yield names
    for rule in await rules.list_rules(conn):
        if rule.name in names:
            await rules.delete_rule(conn, rule_id=rule.id)


async def _rule(conn: psycopg.AsyncConnection, name: str):
    return next((r for r in await rules.list_rules(conn) if r.name == name), None)


async def test_the_page_lists_the_rules_the_service_has(web: httpx.AsyncClient, conn: psycopg.AsyncConnection,
                                                        web_settings: Settings, make_actor, make_team,
                                                        cleanup: list[str]) -> None:
    await signed_in(web, conn, web_settings, make_actor)
    team, word = await make_team(), unique()
    cleanup.append(f"Rule {word}")
    rule = await rules.create_rule(conn, data=RuleIn(name=f"Rule {word}", position=3, team=team,
                                                     conditions=Conditions(keywords=[word], priorities=[1, 2])))
    page = await web.get(PAGE)
    assert page.status_code == 200
    row = re.search(rf'<tr data-rule="{rule.id}">(.*?)</tr>', page.text, re.S)
    assert row, "the rule is not listed"
    cells = [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]
    assert cells[:5] == ["3", f"Rule {word}", f"keywords: {word}; priorities: 1, 2;", team, "yes"]


async def test_a_rule_is_created_edited_and_deleted_through_the_forms(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        cleanup: list[str]) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team, word = await make_team(), unique()
    cleanup.append(f"VPN {word}")
    created = await web.post(f"{PAGE}/rules", data={
        "csrf_token": csrf, "name": f"VPN {word}", "position": "7", "team": team, "enabled": "true",
        "keywords": f"{word}, vpn down", "priorities": "1, 2", "sources": ["WEB", "EMAIL"], "vip": "true",
        "skill": "vpn"})
    assert created.status_code == 303 and created.headers["location"] == f"{PAGE}?done=created"
    rule = await _rule(conn, f"VPN {word}")
    assert rule is not None and (rule.position, rule.team, rule.enabled, rule.skill) == (7, team, True, "vpn")
    assert rule.conditions.model_dump(exclude_defaults=True) == {
        "keywords": [word, "vpn down"], "priorities": [1, 2], "sources": ["WEB", "EMAIL"], "vip": True}
    assert "Routing rule created." in (await web.get(created.headers["location"])).text

    edit = await web.get(f"{PAGE}/rules/{rule.id}")
    assert field_value(edit, "rule", "keywords") == f"{word}, vpn down"
    saved = await web.post(f"{PAGE}/rules/{rule.id}", data={
        "csrf_token": csrf, "name": f"VPN {word}", "position": "2", "team": team, "keywords": word})
    assert saved.status_code == 303
    changed = await rules.get_rule_or_raise(conn, rule_id=rule.id)
    assert (changed.position, changed.enabled, changed.skill) == (2, False, None)  # an unticked box is "disabled"
    assert changed.conditions.model_dump(exclude_defaults=True) == {"keywords": [word]}

    deleted = await web.post(f"{PAGE}/rules/{rule.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303 and await _rule(conn, f"VPN {word}") is None


async def test_a_bad_form_shows_each_fields_message_and_keeps_what_was_typed(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        cleanup: list[str]) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team, word = await make_team(), unique()
    cleanup.append(f"Bad {word}")
    bad = await web.post(f"{PAGE}/rules", data={"csrf_token": csrf, "name": f"Bad {word}", "team": team,
                                                "keywords": f"{word} printer", "priorities": "1, 9", "position": "-1"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert field_error(bad, "rule", "priorities") == "Input should be less than or equal to 5"
    assert field_error(bad, "rule", "position") == "Input should be greater than or equal to 0"
    assert field_value(bad, "rule", "keywords") == f"{word} printer"
    assert field_value(bad, "rule", "priorities") == "1, 9"
    assert f'<option value="{team}" selected>' in bad.text
    assert await _rule(conn, f"Bad {word}") is None

    no_agent = await web.post(f"{PAGE}/rules", data={"csrf_token": csrf, "name": f"Bad {word}", "team": team,
                                                     "agent_id": "999999999"})
    assert no_agent.status_code == 422 and "User 999999999 is not an active agent." in no_agent.text
    assert field_value(no_agent, "rule", "agent_id") == "999999999"


async def test_the_dry_run_shows_the_decision_the_api_returns(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        cleanup: list[str]) -> None:
    csrf = await signed_in(web, conn, web_settings, make_actor)
    team, word = await make_team(), unique()
    await make_actor(Role.agent, teams=(team,), capacity=4)
    cleanup.append(f"Printers {word}")
    await rules.create_rule(conn, data=RuleIn(name=f"Printers {word}", position=0, team=team,
                                              conditions=Conditions(keywords=[word])))
    sample = {"title": f"The {word} printer jams", "description": "Paper jam on floor 3.", "urgency": "2",
              "impact": "2", "source_type": "WEB"}
    page = await web.post(f"{PAGE}/test", data={"csrf_token": csrf} | sample)
    assert page.status_code == 200
    reason = re.search(r'<dd id="decision-reason">([^<]*)</dd>', page.text)
    assert reason and html.unescape(reason.group(1)).startswith(f"{team} team by rule 'Printers {word}'")
    api = await web.post("/api/v1/routing/test", headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
                         json=sample | {"urgency": 2, "impact": 2})
    assert api.status_code == 200
    shown = re.search(r'<pre id="decision-json">(.*?)</pre>', page.text, re.S)
    assert shown and json.loads(html.unescape(shown.group(1))) == api.json()
    assert api.json()["rule_name"] == f"Printers {word}" and api.json()["candidates"]

    empty = await web.post(f"{PAGE}/test", data={"csrf_token": csrf, "title": "  ", "description": "kept text"})
    assert empty.status_code == 422 and field_error(empty, "probe", "title").startswith("String should have at least")
    assert "kept text</textarea>" in empty.text


async def test_agents_get_403_and_a_post_without_csrf_is_refused(
        web: httpx.AsyncClient, conn: psycopg.AsyncConnection, web_settings: Settings, make_actor, make_team,
        cleanup: list[str]) -> None:
    team, word = await make_team(), unique()
    cleanup.append(f"Nope {word}")
    body = {"name": f"Nope {word}", "team": team}
    csrf = await signed_in(web, conn, web_settings, make_actor)
    refused = await web.post(f"{PAGE}/rules", data=body)
    assert refused.status_code == 403 and "CSRF" in refused.text
    agent_csrf = await signed_in(web, conn, web_settings, make_actor, Role.agent)
    assert agent_csrf != csrf
    assert (await web.get(PAGE)).status_code == 403
    forbidden = await web.post(f"{PAGE}/rules", data=body | {"csrf_token": agent_csrf})
    assert forbidden.status_code == 403 and "needs the role admin" in forbidden.text
    assert (await web.post(f"{PAGE}/test", data={"csrf_token": agent_csrf, "title": "x"})).status_code == 403
    assert await _rule(conn, f"Nope {word}") is None
