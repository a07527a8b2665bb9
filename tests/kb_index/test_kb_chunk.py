"""Chunking: heading paths, the model's token limit, overlap between cut chunks, nothing lost."""

from __future__ import annotations

import re

import pytest
from kb import support

import kb_index


@pytest.fixture(scope="module")
def count(embedder):
    return embedder.count_tokens


def _article(body: str, title: str = "Guide") -> kb_index.Article:
    return kb_index.Article(id="guide", title=title, body=body)


def test_heading_paths_follow_the_outline(count):
    body = """# Guide

Intro line.

## Install

Run the installer.

### On Windows

Use Software Center.

### On macOS

Use Self Service.

## Uninstall

Remove it.

```
# a comment in code, not a heading
```
"""
    chunks = kb_index.chunk_article(_article(body), count_tokens=count)
    assert [c.heading_path for c in chunks] == [
        (), ("Install",), ("Install", "On Windows"), ("Install", "On macOS"), ("Uninstall",)]
    assert chunks[2].content == "Use Software Center."
    assert "# a comment in code" in chunks[-1].content
    assert [c.ord for c in chunks] == list(range(len(chunks)))


def test_an_h1_other_than_the_title_stays_in_the_path(count):
    chunks = kb_index.chunk_article(_article("# Appendix\n\nMore.", title="Guide"), count_tokens=count)
    assert chunks[0].heading_path == ("Appendix",)


def test_long_sections_are_cut_within_the_budget_with_overlap(count):
    sentences = [f"Step {i} tells you to open panel {i} and check the cable labelled C{i}." for i in range(60)]
    body = "## Procedure\n\n" + " ".join(sentences)
    chunks = kb_index.chunk_article(_article(body), count_tokens=count, max_tokens=100, overlap_tokens=30)
    assert len(chunks) > 3
    for c in chunks:
        assert c.heading_path == ("Procedure",)
        assert count(c.embedding_text("Guide")) == c.token_count <= 100
    for before, after in zip(chunks, chunks[1:], strict=False):
        last_sentence = re.findall(r"Step \d+ [^.]*\.", before.content)[-1]
        assert after.content.startswith(last_sentence)  # the cut is bridged
        assert count(last_sentence) <= 30
    text = " ".join(c.content for c in chunks)
    assert all(s in text for s in sentences)  # nothing lost


def test_a_single_overlong_sentence_is_cut_at_words(count):
    words = " ".join(f"word{i}" for i in range(400))
    chunks = kb_index.chunk_article(_article(words), count_tokens=count, max_tokens=128, overlap_tokens=0)
    assert len(chunks) >= 3
    assert all(c.token_count <= 128 for c in chunks)
    assert " ".join(c.content for c in chunks).split() == words.split()


def test_budget_never_exceeds_the_model_limit(count):
    chunks = kb_index.chunk_article(_article("x " * 2000), count_tokens=count, max_tokens=10_000)
    assert max(c.token_count for c in chunks) <= kb_index.MODEL_TOKEN_LIMIT == 254


def test_every_demo_chunk_fits_the_model(count):
    articles = kb_index.load_dir(support.KB_DIR)
    chunks = {a.id: kb_index.chunk_article(a, count_tokens=count) for a in articles}
    for a in articles:
        assert chunks[a.id], a.id
        for c in chunks[a.id]:
            assert count(c.embedding_text(a.title)) <= 128, (a.id, c.heading_path)
    lockout = [c.heading_path for c in chunks["kb-account-lockout"]]
    assert ("Steps to unlock",) in lockout and () not in lockout  # the H1 title is not a path element


def test_related_links_are_not_indexed(count):
    body = "## Steps\n\nDo it.\n\n## Related\n\n- Reset your password (kb-password-reset)\n\n## See also\n\n- x"
    assert [c.heading_path for c in kb_index.chunk_article(_article(body), count_tokens=count)] == [("Steps",)]
