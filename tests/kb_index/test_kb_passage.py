"""Choosing and trimming the section an answer quotes (kb_index/_passage.py)."""

from __future__ import annotations

import kb_index
from kb_index import Section

PROCEDURE = ("Guests need a sponsor.\n\n1. Go to the portal.\n2. Enter the guest's name.\n"
             "   - or their mobile number\n3. Choose a duration.\n4. The guest gets a code.")


def test_trim_keeps_whole_steps_with_their_sub_items():
    assert kb_index.trim(PROCEDURE, 5000) == PROCEDURE.replace("\n\n", "\n")
    cut = kb_index.trim(PROCEDURE, 100)
    assert cut.splitlines() == ["Guests need a sponsor.", "1. Go to the portal.", "2. Enter the guest's name.",
                                "   - or their mobile number", "…"]


def test_trim_cuts_a_single_long_block_at_a_sentence():
    text = "First sentence here. " * 10 + "Last words"
    cut = kb_index.trim(text, 100)
    assert cut.endswith("here.\n…") and len(cut) <= 102


def test_a_matching_heading_beats_a_slightly_nearer_section():
    before = Section(("Before you start",), "- A Windows 11 or macOS laptop.\n- Okta Verify.", similarity=0.62)
    windows = Section(("Windows",), "1. Open Software Center.\n2. Install.", similarity=0.58)
    mac = Section(("macOS",), "1. Open Self Service.\n2. Install.", similarity=0.57)
    assert kb_index.choose_section("how do I install it on my mac", [before, windows, mac]) is mac
    assert kb_index.choose_section("what do I need first", [before, windows, mac]) is before
