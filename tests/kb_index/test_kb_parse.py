"""Reading articles: Markdown front matter, HTML, plain text, directories, and the demo KB itself."""

from __future__ import annotations

import pytest
from kb import support

import kb_index

MD = """---
id: kb-vpn-demo
title: VPN demo
category: Network
tags: [VPN, remote, vpn]
url: https://intranet.example.com/kb/kb-vpn-demo
audience: agent
---

# VPN demo

Body text.
"""

HTML = """<!doctype html>
<html><head><title>Printer jams</title>
<meta name="kb:id" content="kb-printer-jams"><meta name="category" content="printing">
<meta name="tags" content="printer, jam"><style>.x{color:red}</style><script>alert('x')</script></head>
<body><nav>Home | KB</nav>
<h1>Printer jams</h1>
<p>Open the <b>front</b> door.</p>
<h2>Steps</h2>
<ol><li>Remove the tray</li><li>Pull the paper <ul><li>gently</li></ul></li></ol>
<h3>Error codes</h3>
<table><tr><th>Code</th><th>Meaning</th></tr><tr><td>E12</td><td>Tray 2 jam</td></tr></table>
<pre># not a heading
lpstat -t</pre>
<!-- a comment that must not appear -->
</body></html>
"""


def test_markdown_front_matter_fields():
    a = kb_index.parse_text(MD, fmt="markdown", default_id="ignored")
    assert (a.id, a.title, a.category, a.audience, a.status) == ("kb-vpn-demo", "VPN demo", "network", "agent",
                                                                  "published")
    assert a.tags == ("vpn", "remote")  # lower-cased, de-duplicated, in order
    assert a.url == "https://intranet.example.com/kb/kb-vpn-demo"
    assert a.body.startswith("# VPN demo") and "---" not in a.body


def test_markdown_without_front_matter_takes_id_from_file_and_title_from_h1(tmp_path):
    path = tmp_path / "Wi-Fi Guest Access.md"
    path.write_text("# Guest Wi-Fi\n\nAsk reception for a code.\n", encoding="utf-8")
    a = kb_index.parse_file(path)
    assert (a.id, a.title, a.audience, a.tags, a.format) == ("wi-fi-guest-access", "Guest Wi-Fi", "employee", (),
                                                             "markdown")
    assert a.source_path == str(path.resolve())


def test_html_becomes_markdown_like_text_with_metadata():
    a = kb_index.parse_text(HTML, fmt="html", default_id="x")
    assert (a.id, a.title, a.category, a.tags) == ("kb-printer-jams", "Printer jams", "printing", ("printer", "jam"))
    lines = a.body.splitlines()
    assert "# Printer jams" in lines and "## Steps" in lines and "### Error codes" in lines
    assert "1. Remove the tray" in lines and "2. Pull the paper" in lines and "  - gently" in lines
    assert "Open the front door." in lines and "E12 | Tray 2 jam" in lines
    assert "alert" not in a.body and "color:red" not in a.body and "Home | KB" not in a.body
    assert "comment" not in a.body
    # code stays fenced, so its '#' line is not taken for a heading by the chunker
    assert [p for p, _ in kb_index.sections(a)] == [(), ("Steps",), ("Steps", "Error codes")]


def test_plain_text_first_line_is_the_title(tmp_path):
    path = tmp_path / "badge.txt"
    path.write_text("Lost building badge\n\nReport it at reception the same day.\n", encoding="utf-8")
    a = kb_index.parse_file(path)
    assert (a.id, a.title, a.format) == ("badge", "Lost building badge", "text")
    assert a.body == "Report it at reception the same day."


@pytest.mark.parametrize(("text", "message"), [
    ("---\naudience: everyone\n---\n# T\n\nx", "audience"),
    ("---\nid: Not A Slug\n---\n# T\n\nx", "slug"),
    ("---\n[unclosed\n---\n# T\n\nx", "YAML"),
    ("---\ntitle: Only a title\n---\n", "no text"),
    ("just words, no heading", "title"),
])
def test_invalid_articles_are_refused_with_a_reason(text, message):
    with pytest.raises(kb_index.ArticleError, match=message):
        kb_index.parse_text(text, fmt="markdown")


def test_directory_load_skips_readme_and_refuses_duplicate_ids(tmp_path):
    (tmp_path / "README.md").write_text("# How to write articles\n\nnot an article")
    (tmp_path / "a.md").write_text("---\nid: same\n---\n# A\n\ntext a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.html").write_text("<h1>B</h1><p>text b</p>")
    assert [a.id for a in kb_index.load_dir(tmp_path)] == ["same", "b"]
    (tmp_path / "c.md").write_text("---\nid: same\n---\n# C\n\ntext c")
    with pytest.raises(kb_index.ArticleError, match="two articles have the id 'same'"):
        kb_index.load_dir(tmp_path)


def test_the_demo_kb_parses_completely():
    articles = kb_index.load_dir(support.KB_DIR)
    assert len(articles) >= 30
    for a in articles:
        assert a.id == kb_index.slugify(a.source_path.rsplit("/", 1)[1].removesuffix(".md"))
        assert a.title and a.category and a.tags and a.url and a.url.endswith(a.id)
    assert {a.audience for a in articles} == {"employee", "agent"}
