"""Grounding, sentence by sentence: each sentence is judged against the sources *it* cites (issue #10).

The rule is measured on the labelled sentences of data/kb_eval/grounding.jsonl (supported and
invented sentences about sections of the demo KB); bench/grounding.py prints the same numbers for
the variants that were tried (embedding similarity among them).
"""

from __future__ import annotations

import json

import kb_index
from api.settings import REPO_ROOT

LABELLED = REPO_ROOT / "data" / "kb_eval" / "grounding.jsonl"
ARTICLES = {a.id: a for a in kb_index.load_dir(REPO_ROOT / "data" / "kb")}


def hit(n: int, *, title: str, content: str) -> kb_index.SearchHit:
    return kb_index.SearchHit(article_id=f"kb-{n}", title=title, url=None, category="it", audience="employee",
                              chunk_id=n, heading_path=(), content=content, snippet="", score=0.0, similarity=0.7)


def section(article_id: str, heading: str) -> kb_index.SearchHit:
    """The demo article's section under ``heading`` as the LLM gets it (trimmed as with_passages does)."""
    article = ARTICLES[article_id]
    for path, text in kb_index.sections(article):
        if " > ".join(path).endswith(heading):
            return hit(1, title=article.title, content=kb_index.trim(text))
    raise AssertionError(f"{article_id} has no section {heading!r}")


def text(h: kb_index.SearchHit) -> str:
    """What a sentence citing ``h`` is judged against (as ``ground`` does): its title and passage."""
    return f"{h.title}\n{h.content}"


INSTALL = section("kb-vpn-setup", "Install GlobalProtect")
LOCKOUT = section("kb-account-lockout", "Steps to unlock")
SESSIONS = section("kb-vpn-setup", "Session limits")


def test_the_issues_invented_steps_are_not_supported_by_the_macos_install_section():
    # "download" and "software" (Software Center) both occur in the section: half of the words matched,
    # which the first version of the check (≥ 0.5) accepted
    assert not kb_index.supported("Download the VPN software from the internet [1].", [text(INSTALL)])
    assert not kb_index.supported("Create a new VPN user account [1].", [text(INSTALL)])
    assert kb_index.supported("On a Mac, open Self Service, search for GlobalProtect and select Install [1].",
                              [text(INSTALL)])


def test_numbers_must_be_in_the_cited_source():
    assert kb_index.supported("Sessions end after 2 hours of inactivity [1].", [text(SESSIONS)])
    assert not kb_index.supported("Sessions end after 24 hours of inactivity [1].", [text(SESSIONS)])
    assert not kb_index.supported("The lock clears by itself after 60 minutes [1].", [text(LOCKOUT)])


def test_a_sentence_is_judged_against_its_own_citation_only():
    grounded = kb_index.ground("The lock clears by itself after 30 minutes [2].\n"
                               "The lock clears by itself after 30 minutes [1].", [INSTALL, LOCKOUT])
    assert grounded.text == "The lock clears by itself after 30 minutes [2]."
    assert grounded.dropped == ("The lock clears by itself after 30 minutes [1].",)
    assert grounded.kept == 0.5 and grounded.complete is False


def test_a_sentence_citing_nothing_is_unsupported_even_when_true():
    grounded = kb_index.ground("The lock clears by itself after 30 minutes.\n"
                               "Select Unlock account on myaccount.example.com [1].", [LOCKOUT])
    assert grounded.text == "Select Unlock account on myaccount.example.com [1]."
    assert grounded.dropped == ("The lock clears by itself after 30 minutes.",)


def test_a_citation_to_a_source_that_does_not_exist_fails_the_sentence():
    grounded = kb_index.ground("The lock clears by itself after 30 minutes [1][3]. See [9].\n"
                               "Select Unlock account [1].", [LOCKOUT])
    assert grounded.text == "Select Unlock account [1]."
    assert grounded.dropped == ("The lock clears by itself after 30 minutes [1][3].", "See [9].")


def test_a_citation_header_over_invented_steps_keeps_nothing():
    reply = ("[1] [2] [3]\n1. Download the VPN software from the internet.\n"
             "2. Create a new VPN user account.\n3. Enter the server details that your administrator gives you.")
    grounded = kb_index.ground(reply, [INSTALL, LOCKOUT, SESSIONS])
    assert grounded.text == "" and grounded.kept == 0.0
    assert grounded.dropped == tuple(line[3:] for line in reply.splitlines()[1:])  # the header is no sentence


def test_list_numbers_of_dropped_steps_are_not_left_behind():
    grounded = kb_index.ground("Steps:\n1. Open Self Service and search for GlobalProtect [1].\n"
                               "2. Download the VPN software from the internet [1].", [INSTALL])
    assert grounded.text == "Steps:\n1. Open Self Service and search for GlobalProtect [1]."


def test_the_check_separates_supported_from_invented_sentences_on_the_labelled_set():
    items = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    assert len(items) >= 100 and {i["supported"] for i in items} == {True, False}
    predicted = [kb_index.supported(i["sentence"], [text(section(i["article"], i["section"]))]) for i in items]
    truth = [i["supported"] for i in items]
    tp = sum(p and t for p, t in zip(predicted, truth, strict=True))
    precision, recall = tp / sum(predicted), tp / sum(truth)
    # measured when the rule was chosen: precision 0.83, recall 0.94 (docs/knowledge.md); the old rule
    # (overlap ≥ 0.5, no number check) had precision 0.68
    assert precision >= 0.8 and recall >= 0.9, (precision, recall)
    generic = [p for p, i in zip(predicted, items, strict=True) if i["kind"] == "invented-generic"]
    assert sum(generic) <= 3, "the small model's kind of invention must be caught"


def test_a_bare_link_that_cites_nothing_is_dropped():
    # what SmolLM2 wrote for the VPN question in one run: numbered links, most of them invented
    grounded = kb_index.ground("1. https://www.example.com/kb-vpn-setup\n2. https://bakcjfz379.info/kb-vpn\n"
                               "Open Self Service and search for GlobalProtect [1].", [INSTALL])
    assert grounded.text == "Open Self Service and search for GlobalProtect [1]." and len(grounded.dropped) == 2
