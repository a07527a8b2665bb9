"""Property tests (hypothesis, #9 item 5): arbitrary unicode, control characters and huge numbers through
template rendering and the subject / SMS / webhook body builders never raise anything but a clean
ValidationFailed, and through the whole path (ticket → triage → alert rule → worker → SMTP, Twilio, webhook)
every delivery reaches a final or retryable state and the ticket's triage finishes."""

from __future__ import annotations

import json
import uuid

import pytest
from fakes.triage import drain
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.alerts import delivery, fire, service, templates
from api.alerts.models import AlertRuleIn, Channel, ChannelSpec
from api.auth import service as people
from api.auth.models import Role
from api.errors import SmtpError, ValidationFailed
from api.integrations.smtp.client import SmtpClient
from api.integrations.smtp.settings import SmtpSettings
from api.routing import rules as routing
from api.routing.models import RuleIn

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

ANY_TEXT = st.text(max_size=300)
NUMBER = st.one_of(st.integers(min_value=-(10**6000), max_value=10**6000), st.floats(allow_nan=True))
STORABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")  # what Postgres can store
ADMIN_TEMPLATES = [
    None, "{{ ticket.title }} {{ ticket.priority * 3 }} {{ ticket.impact + 1 }}",
    "{{ 1 // (ticket.impact - 3) }}", "{{ ticket.description | upper }} {{ ticket.title | truncate(20) }}",
    "{% for i in range(ticket.urgency | int) %}{{ ticket.title }}{% endfor %}", "{{ ticket.number ** 2 }}",
]


def _context(title: str, description: str, requester: str, comment: str, number: object) -> dict:
    ctx = json.loads(json.dumps(templates.SAMPLE))
    ctx["ticket"] |= {"title": title, "description": description, "requester": requester, "priority": number,
                      "impact": number, "urgency": number}
    ctx["comment"]["body"] = comment
    ctx["event"]["reason"] = title
    return ctx


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=ANY_TEXT, description=ANY_TEXT, requester=ANY_TEXT, comment=ANY_TEXT, number=NUMBER,
       body=st.sampled_from(ADMIN_TEMPLATES), channel=st.sampled_from(list(Channel)))
def test_render_and_build_never_raise_anything_but_a_clean_error(title, description, requester, comment, number,
                                                                  body, channel):
    spec = ChannelSpec(channel=channel, url="https://hooks.example.com/x" if channel is Channel.WEBHOOK else None,
                       recipients={Channel.WEBHOOK: [], Channel.ORIGIN: [{"kind": "requester"}]}.get(
                           channel, [{"kind": "assignee"}]),
                       template={"body": body} if body else {})
    try:
        subject, text = fire._rendered(spec, _context(title, description, requester, comment, number),
                                       max_bytes=65_536)
    except ValidationFailed as exc:  # the firing is recorded as failed with this reason
        assert exc.detail.startswith(("the template failed", "the template renders more than"))
        return
    assert len(text.encode("utf-8", "surrogatepass")) <= 65_536
    if channel is Channel.SMS:
        septets = templates.gsm7_septets(text)
        assert septets <= templates.GSM7_LIMIT if septets is not None else templates.ucs2_units(text) <= templates.UCS2_LIMIT
    if channel is Channel.WEBHOOK:
        payload = {"id": "dlv_x", "event": {"kind": "created"}, "ticket": {"title": title}, "text": text}
        assert json.loads(delivery.webhook_body(payload))["event"] == {"kind": "created"}
    if channel is Channel.EMAIL:
        client = SmtpClient(SmtpSettings(sender="desk@deskmate.test", _env_file=None))
        try:
            msg = client.build(to="oncall@example.com", subject=subject or "", body=text, delivery_key="dlv_x")
        except SmtpError as exc:  # never expected for a valid address, but if so: final, not a crash
            pytest.fail(f"a valid address and any text must build: {exc.detail}")
        assert "\n" not in str(msg["Subject"]) and "\r" not in str(msg["Subject"])


@pytest.fixture
async def pipeline(client, conn, make_team, make_actor, delivery_settings, receiver):
    """A team with an agent who has a phone; a rule alerting by every channel with admin-written templates."""
    team, word = await make_team(), f"pp{uuid.uuid4().hex[:8]}"
    agent = await make_actor(Role.agent, teams=(team,))
    await people.set_phone(conn, user_id=agent.user.id, phone="+15551230099")
    await routing.create_rule(conn, data=RuleIn(name=f"to {team}", position=1, team=team,
                                                conditions={"keywords": [word]}))
    rule = await service.create_rule(conn, settings=delivery_settings, actor_id=None, data=AlertRuleIn(
        name=f"prop {word}", events=["created"], conditions={"teams": [team]}, webhook_secret=receiver.receiver.secret,
        channels=[
            {"channel": "EMAIL", "recipients": [{"kind": "assignee"}],
             "template": {"subject": "{{ ticket.title }} {{ event.reason }}", "body": "{{ ticket.description }}"}},
            {"channel": "SMS", "recipients": [{"kind": "assignee"}]},
            {"channel": "WEBHOOK", "url": receiver.url, "template": {"body": "{{ ticket.title }}"}},
            {"channel": "IN_APP", "recipients": [{"kind": "assignee"}]},
        ]))
    employee = await make_actor()
    yield word, rule, employee
    await service.delete_rule(conn, rule_id=rule.id)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(title=st.text(STORABLE, min_size=1, max_size=150), description=st.text(STORABLE, max_size=2000),
       urgency=st.integers(1, 3))
async def test_every_delivery_of_any_ticket_reaches_a_final_or_retryable_state(
        client, conn, delivery_settings, pipeline, title, description, urgency):
    word, rule, employee = pipeline
    r = await client.post("/api/v1/tickets", headers=employee.headers,
                          json={"title": f"{word} {title}", "description": description, "urgency": urgency})
    if r.status_code == 422:  # a title of only whitespace is refused up front
        return
    assert r.status_code == 201, r.text
    ticket = r.json()
    await drain(delivery_settings)
    firings = await (await conn.execute("SELECT id, status FROM alert_firings WHERE rule_id = %s AND ticket_id = %s",
                                        (rule.id, ticket["id"]))).fetchall()
    assert [f["status"] for f in firings] in (["fired"], ["failed"])
    rows = await (await conn.execute("SELECT channel, status FROM alert_deliveries WHERE firing_id = %s",
                                     (firings[0]["id"],))).fetchall()
    assert {d["status"] for d in rows} <= delivery.FINAL | {"retrying"}
    cursor = await (await conn.execute(
        "SELECT c.last_event_id = (SELECT max(id) FROM ticket_events WHERE ticket_id = c.ticket_id) AS done "
        "FROM triage_cursors c WHERE c.ticket_id = %s", (ticket["id"],))).fetchone()
    assert cursor["done"]
