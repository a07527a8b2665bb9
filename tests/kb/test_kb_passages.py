"""Answers quote the section a person needs (issue #10): the whole section or procedure the question is about,
from its first step, not the chunk that happens to be nearest (prerequisites, "after access is granted")."""

from __future__ import annotations

import pytest


async def _answer(client, actor, question):
    r = await client.post("/api/v1/kb/answer", json={"question": question}, headers=actor.headers)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(("question", "article_id", "section", "quoted", "not_quoted"), [
    ("How do I set up the VPN on my Mac?", "kb-vpn-setup", "Install GlobalProtect",
     "> - **macOS:** open **Self Service**, search for *GlobalProtect*", "Before you start"),
    ("how can I get access to the finance shared drive", "kb-sharepoint-drive-access", "Request through deskmate",
     "> 1. Go to **https://deskmate.example.com > Request something > Access > File share or SharePoint access**",
     "After access is granted"),
    ("I got a new phone, how do I move my authenticator app", "kb-mfa-new-phone",
     "Scenario A: you still have the old phone working",
     "> 1. On your laptop, go to **https://example.okta.com** > your name (top right) > **Settings**.", None),
    ("what is the wifi password for guests", "kb-wifi-office-guest", "Guests: ExampleCorp-Guest",
     "> 1. Go to **https://guestwifi.example.com** and sign in with Okta.", None),
])
async def test_the_answer_quotes_the_whole_section_the_question_is_about(
        kb_client, make_actor, question, article_id, section, quoted, not_quoted):
    answer = await _answer(kb_client, await make_actor(), question)
    assert answer["mode"] == "extractive"
    assert answer["citations"][0]["article_id"] == article_id
    assert answer["citations"][0]["url"] == f"https://intranet.example.com/kb/{article_id}"
    assert f"{section}”) says [1]:" in answer["answer"].splitlines()[0]
    assert quoted in answer["answer"]
    if not_quoted:
        assert not_quoted not in answer["answer"]


async def test_a_procedure_is_quoted_whole_from_its_first_step(kb_client, make_actor):
    answer = await _answer(kb_client, await make_actor(), "what is the wifi password for guests")
    steps = [ln for ln in answer["answer"].splitlines() if ln[2:4] in ("1.", "2.", "3.", "4.")]
    assert [s[2:4] for s in steps] == ["1.", "2.", "3.", "4."]
