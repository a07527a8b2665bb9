"""Alert texts: sandboxed Jinja2 templates per channel, the context they see, and SMS cut to one segment.

Templates run in an ``ImmutableSandboxedEnvironment``: no attribute starting with ``_``, no mutating
methods, ranges capped, ``**`` and repetition (``'x' * n``) bounded, and the output capped at
DESKMATE_ALERTS_TEMPLATE_MAX_BYTES (rendering stops there). A rule's templates are checked when it
is saved by rendering them against a sample context with StrictUndefined (typos, unsafe access,
errors and oversize output are refused then); deliveries render leniently (a missing value prints as
nothing). A template that still fails at delivery time (``{{ 1 // (ticket.impact - 3) }}``, output
over the cap for a real ticket) raises ``ValidationFailed``: the rule's firing is recorded as failed
with that reason and the event's other rules fire (api/alerts/fire.py).
"""

from __future__ import annotations

import operator
import re
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from api.alerts.models import Channel, Template
from api.errors import ValidationFailed

MAX_EXPONENT, MAX_REPEAT = 256, 100_000
_BINOPS = {"**": operator.pow, "*": operator.mul}


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with ``**`` and sequence repetition bounded (no 10**10**9, no 'x' * 10**9)."""

    intercepted_binops = frozenset(_BINOPS)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed in templates")
        if operator == "*":
            count = right if isinstance(left, str | list | tuple) else left
            if isinstance(left, str | list | tuple) != isinstance(right, str | list | tuple) and \
                    isinstance(count, int) and count > MAX_REPEAT:
                raise SecurityError(f"repeating a text more than {MAX_REPEAT} times is not allowed in templates")
        return _BINOPS[operator](left, right)


_strict = _Sandbox(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
_lenient = _Sandbox(undefined=ChainableUndefined, autoescape=False, trim_blocks=True)

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
    Channel.ORIGIN: Template(body=(
        'Update on your ticket {{ ticket.number }} "{{ ticket.title }}": '
        "{% if comment %}{{ comment.author or 'The service desk' }} wrote: {{ comment.body }}"
        "{% elif event.kind == 'status_changed' %}it is now {{ event.after.status | replace('_', ' ') }}"
        "{% if event.reason %} ({{ event.reason }}){% endif %}."
        "{% else %}{{ event.label }}.{% endif %}")),
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


def _capped(text: str, context: dict[str, Any], *, strict: bool, max_bytes: int) -> str:
    """Renders chunk by chunk and stops as soon as the output passes ``max_bytes``."""
    out: list[str] = []
    size = 0
    for chunk in (_strict if strict else _lenient).from_string(text).generate(context):
        size += len(chunk.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise ValidationFailed(f"the template renders more than {max_bytes} bytes "
                                   "(DESKMATE_ALERTS_TEMPLATE_MAX_BYTES)")
        out.append(chunk)
    return "".join(out)


def validate(channel: Channel, template: Template, *, max_bytes: int) -> None:
    """Refuses a template that does not compile, touches unsafe attributes, names unknown values, fails or
    renders more than ``max_bytes`` for the sample ticket."""
    for part, text in (("subject", template.subject), ("body", template.body)):
        if text is None:
            continue
        try:
            _capped(text, SAMPLE, strict=True, max_bytes=max_bytes)
        except ValidationFailed as exc:
            raise ValidationFailed(f"{channel} template {part}: {exc.detail}") from exc
        except Exception as exc:  # TemplateError, or what the template's own expressions raise (1 // 0)
            raise ValidationFailed(f"{channel} template {part}: {type(exc).__name__}: {exc}") from exc


def render(text: str, context: dict[str, Any], *, max_bytes: int) -> str:
    """Renders a (validated) template leniently. A template problem Jinja reports prints as the text of the
    alert; anything else the template raises, or output over ``max_bytes``, raises ValidationFailed."""
    try:
        return _capped(text, context, strict=False, max_bytes=max_bytes)
    except ValidationFailed:
        raise
    except TemplateError as exc:
        return f"(template error: {type(exc).__name__}: {exc})"
    except Exception as exc:
        raise ValidationFailed(f"the template failed: {type(exc).__name__}: {str(exc)[:300]}") from exc


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
