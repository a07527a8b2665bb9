"""Parsing one raw message: machine mail recognised, text cleaned, quotes trimmed, and nothing ever raises."""

from __future__ import annotations

import random

import pytest
from email_support import message

from api.channels.email.parse import parse, reply_text, trim_quoted
from api.channels.email.settings import EmailSettings

LIMITS = EmailSettings(_env_file=None)


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Auto-Submitted": "auto-generated"}, "auto-submitted (auto-generated)"),
    ({"Precedence": "bulk"}, "precedence bulk"),
    ({"Precedence": "list"}, "precedence list"),
    ({"X-Autorespond": "yes"}, "x-autorespond header"),
    ({"Return-Path": "<>"}, "null sender (a bounce)"),
])
def test_machine_mail_is_recognised(headers, reason):
    raw, _ = message(sender="alice@example.com", subject="Hi", body="text", headers=headers)
    assert parse(raw, limits=LIMITS).ignore_reason == reason


def test_a_person_is_not_machine_mail():
    raw, _ = message(sender="alice@example.com", subject="Hi", body="text",
                     headers={"Auto-Submitted": "no", "Precedence": "first-class"})
    assert parse(raw, limits=LIMITS).ignore_reason is None
    daemon, _ = message(sender="MAILER-DAEMON@mx.example.com", subject="Hi", body="text")
    assert parse(daemon, limits=LIMITS).ignore_reason == "sent by mailer-daemon@mx.example.com"


def test_subject_tag_title_and_references():
    raw, mid = message(sender="Alice <Alice@Example.com>", subject="RE: AW: Fwd: printer [inc-000042] jammed",
                       body="x", headers={"In-Reply-To": "<a@x>", "References": "<root@x> <a@x>"})
    parsed = parse(raw, limits=LIMITS)
    assert parsed.tag == "INC-000042" and parsed.title == "printer jammed"
    assert parsed.references == ["<a@x>", "<root@x>"] and parsed.message_id == mid
    assert parsed.sender == "alice@example.com" and parsed.sender_name == "Alice"


def test_quoted_history_is_trimmed_from_replies():
    text = "Works now, thanks!\n\nOn Mon, 7 Dec 2026 at 10:00, Desk <desk@x> wrote:\n> Please restart.\n> Bye"
    assert trim_quoted(text) == "Works now, thanks!"
    outlook = "Done.\n\n-----Original Message-----\nFrom: Desk\nSent: Monday\n\nold"
    assert trim_quoted(outlook) == "Done."
    only_quote = "> all quoted"
    assert trim_quoted(only_quote) == "> all quoted"  # nothing new: keep what there is rather than nothing


def test_a_message_without_message_id_gets_a_stable_one():
    raw = b"From: a@example.com\r\nSubject: no id\r\n\r\nbody\r\n"
    first, second = parse(raw, limits=LIMITS), parse(raw, limits=LIMITS)
    assert first.message_id == second.message_id and first.message_id.endswith("@deskmate.invalid>")


def test_unknown_charset_and_undecodable_bytes_are_replaced():
    raw = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\n"
           b"caf\xc3\xa9 \xff\xfe end\r\n")
    text = parse(raw, limits=LIMITS).text
    assert text.startswith("café") and text.endswith("end") and "\ufffd" in text


def test_html_replies_lose_their_quotes():
    raw = (b"From: a@example.com\r\nSubject: Re: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<div>Fixed, thanks</div><div class=gmail_quote>On Mon, Desk wrote:<blockquote>old</blockquote></div>")
    assert reply_text(parse(raw, limits=LIMITS)) == "Fixed, thanks"


def test_random_bytes_never_raise():
    rng = random.Random(12)
    base, _ = message(sender="a@example.com", subject="x", body="hello")
    for _ in range(300):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        parsed = parse(bytes(raw), limits=LIMITS)
        assert parsed.message_id.startswith("<")
