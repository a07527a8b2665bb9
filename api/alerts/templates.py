"""Alert texts: sandboxed Jinja2 templates per channel, the context they see, and SMS cut to one segment.

Templates run in ``ImmutableSandboxedEnvironment``: no attribute starting with ``_``, no mutating
methods, ranges capped. A rule's templates are checked when it is saved by rendering them against a
sample context with StrictUndefined (typos and unsafe access are refused then); deliveries render
leniently (a missing value prints as nothing) so an alert is never lost to a template.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from api.alerts.models import Channel, Template
from api.errors import ValidationFailed

MAX_OUTPUT = 20_000
_strict = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
_lenient = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False, trim_blocks=True)

SUBJECT = "[{{ ticket.number }}] {{ event.label }}: {{ ticket.title }}"
DEFAULTS: dict[Channel, Template] = {
    Channel.EMAIL: Template(subject=SUBJECT, body=(
        "{{ event.label }} — {{ ticket.number }} {{ ticket.title }}\n\n"
        "Priority: P{{ ticket.priority }} ({{ ticket.priority_name }})\n"
        "Status: {{ ticket.status }}\nTeam: {{ ticket.team_name or 'unassigned' }}\n"
        "Assignee: {{ ticket.assignee or 'nobody yet' }}\nRequester: {{ ticket.requester }}\n"
        "{% if ticket.resolve_due_at %}Resolve by: {{ ticket.resolve_due_at }}\n{% endif %}"
        "{% if event.reason %}Why: {{ event.reason }}\n{% endif %}"
        "{% if comment %}\n{{ comment.author }} wrote:\n{{ comment.body }}\n{% endif %}"
        "\n{{ ticket.url }}\n")),
    Channel.SMS: Template(body="{{ ticket.number }} P{{ ticket.priority }} {{ event.label }}: {{ ticket.title }}"),
    Channel.IN_APP: Template(subject=SUBJECT, body=(
        "{{ event.label }}{% if event.reason %} — {{ event.reason }}{% endif %}"
        "{% if comment %}: {{ comment.body }}{% endif %}")),
    Channel.WEBHOOK: Template(body="{{ ticket.number }} {{ event.label }}: {{ ticket.title }}"),
}

SAMPLE: dict[str, Any] = {
    "event": {"kind": "created", "label": "New ticket", "at": "2026-01-05T09:00:00+00:00", "actor": "Dana Ruiz",
              "reason": "Network team by rule 'VPN'", "target": "resolve", "due_at": "2026-01-05T13:00:00+00:00",
              "before": {}, "after": {}},
    "ticket": {"id": 1, "number": "INC-000001", "title": "VPN drops", "description": "…", "status": "new",
               "priority": 2, "priority_name": "high", "urgency": 1, "impact": 2, "category": "network",
               "team": "network", "team_name": "Network", "assignee": "Dana Ruiz",
               "assignee_email": "dana@example.com", "requester": "Jordan Blake",
               "requester_email": "jordan@example.com", "source_type": "WEB", "url": "http://localhost/t/1",
               "respond_due_at": "2026-01-05T09:30:00+00:00", "resolve_due_at": "2026-01-05T13:00:00+00:00",
               "created_at": "2026-01-05T09:00:00+00:00"},
    "comment": {"body": "Any news?", "internal": False, "author": "Jordan Blake"},
    "rule": {"name": "sample"},
}


def effective(channel: Channel, template: Template) -> Template:
    """The rule's template with the channel's defaults for what it leaves out."""
    default = DEFAULTS[channel]
    return Template(subject=template.subject or default.subject, body=template.body or default.body)


def validate(channel: Channel, template: Template) -> None:
    """Refuses a template that does not compile, touches unsafe attributes or names unknown values."""
    for part, text in (("subject", template.subject), ("body", template.body)):
        if text is None:
            continue
        try:
            _strict.from_string(text).render(SAMPLE)
        except TemplateError as exc:
            raise ValidationFailed(f"{channel} template {part}: {type(exc).__name__}: {exc}") from exc


def render(text: str, context: dict[str, Any]) -> str:
    """Renders a (validated) template leniently; output is capped at MAX_OUTPUT characters."""
    try:
        return _lenient.from_string(text).render(context)[:MAX_OUTPUT]
    except TemplateError as exc:
        return f"(template error: {type(exc).__name__}: {exc})"


# ---------------------------------------------------------------- SMS segments

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each (escape + char)
GSM7_LIMIT, UCS2_LIMIT = 160, 70
# What Twilio's "smart encoding" would do: common typographic characters to GSM-7 look-alikes.
_SMART = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
                        "…": "...", "\u00a0": " ", "\t": " ", "•": "-", "«": '"', "»": '"'})


def gsm7_septets(text: str) -> int | None:
    """Septets ``text`` takes in GSM-7, or None when it needs UCS-2."""
    count = 0
    for ch in text:
        if ch in GSM7_BASIC:
            count += 1
        elif ch in GSM7_EXTENDED:
            count += 2
        else:
            return None
    return count


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def one_segment(text: str) -> str:
    """``text`` shortened to fit one SMS segment: 160 GSM-7 septets, else 70 UCS-2 units.

    Typographic quotes and dashes become their GSM-7 look-alikes first (so one emoji-free curly
    quote does not cost 90 characters), whitespace runs collapse, and a cut happens at a word
    boundary when there is one in the last 40 %, marked with an ellipsis.
    """
    text = re.sub(r"\s+", " ", text.translate(_SMART)).strip()
    gsm = gsm7_septets(text) is not None
    measure = (lambda s: gsm7_septets(s) or 0) if gsm else ucs2_units
    limit = GSM7_LIMIT if gsm else UCS2_LIMIT
    if measure(text) <= limit:
        return text
    mark = "..." if gsm else "…"
    room = limit - measure(mark)
    cut, used = 0, 0
    for i, ch in enumerate(text):
        used += measure(ch)
        if used > room:
            break
        cut = i + 1
    head = text[:cut]
    space = head.rfind(" ")
    if space >= room * 0.6:
        head = head[:space]
    return head.rstrip(" ,.;:-") + mark
