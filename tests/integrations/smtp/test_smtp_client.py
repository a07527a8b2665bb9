"""SmtpClient against a real SMTP server (aiosmtpd): login, Message-ID per delivery, header values made safe
(#9: a title with \\r, \\x0b, \\x85 or \\u2028 made building the subject raise), errors translated."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from api.errors import SmtpError
from api.integrations.smtp.client import SmtpClient, header_text
from api.integrations.smtp.settings import SmtpSettings

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
BREAKS = ["\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("brk", BREAKS)
async def test_line_breaks_in_a_subject_cannot_break_the_message(smtp, smtp_settings, brk):
    client = SmtpClient(smtp_settings)
    subject = f"[INC-000001] New ticket: Printer{brk}Bcc: victim@example.com{brk}"
    mid = await client.send(to="oncall@example.com", subject=subject, body=f"line one{brk}line two",
                            delivery_key="dlv_breaks")
    assert smtp.sink.wait_for(1, timeout=5)
    [got] = smtp.sink.received
    assert got.rcpt_tos == ["oncall@example.com"] and got.message["Message-ID"] == mid
    assert got.message["Subject"] == "[INC-000001] New ticket: Printer Bcc: victim@example.com"
    assert got.message["Bcc"] is None and got.message["From"] == "desk@deskmate.test"


async def test_refusals_and_unreachable_servers_are_translated(smtp_settings):
    with pytest.raises(SmtpError, match="DESKMATE_SMTP_HOST") as unconfigured:
        await SmtpClient(SmtpSettings(_env_file=None)).send(to="a@b.c", subject="s", body="b", delivery_key="k")
    assert unconfigured.value.permanent
    wrong = smtp_settings.model_copy(update={"password": SecretStr("wrong")})
    with pytest.raises(SmtpError, match="login failed") as login:
        await SmtpClient(wrong).send(to="a@b.c", subject="s", body="b", delivery_key="k")
    assert login.value.permanent and login.value.__cause__ is not None
    closed = smtp_settings.model_copy(update={"port": 9, "timeout_s": 2.0})
    with pytest.raises(SmtpError, match="Cannot send through") as down:
        await SmtpClient(closed).send(to="a@b.c", subject="s", body="b", delivery_key="k")
    assert not down.value.permanent


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.text(), body=st.text(), to=st.text(max_size=80))
def test_any_text_builds_a_message_whose_headers_stay_one_line(subject, body, to):
    client = SmtpClient(SmtpSettings(sender="desk@deskmate.test", _env_file=None))
    try:
        msg = client.build(to=to or "a@b.c", subject=subject, body=body, delivery_key="dlv_x")
    except SmtpError as exc:  # an address Python cannot put in To: refused for good, not raised as a bug
        assert exc.permanent
        return
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    got = str(parsed["Subject"] or "")
    assert not any(ch in got for ch in "\r\n\x0b\x85\u2028")
    assert got.split() == header_text(subject).split() or "".join(got.split()) == "".join(header_text(subject).split())
    assert parsed["Message-ID"] == "<dlv_x@deskmate.test>" and parsed["X-Deskmate-Delivery"] == "dlv_x"
    assert [str(a.addr_spec) for a in parsed["To"].addresses] == [str(a.addr_spec) for a in msg["To"].addresses]
