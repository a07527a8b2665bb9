"""The pages' ``plain`` filter: the bot's and the KB's Markdown shown as the words a reader sees."""

from __future__ import annotations

import pytest

from api.web.pages import plain, templates


@pytest.mark.parametrize(("markdown", "shown"), [
    ("Run a speed test at **https://speed.example.com**.", "Run a speed test at https://speed.example.com."),
    ("See [the VPN guide](https://kb.example.com/vpn) first.", "See the VPN guide first."),
    ("Type `ipconfig /all` and __press__ Enter.", "Type ipconfig /all and press Enter."),
    ("# Reset\n- open the portal\n* choose Reset", "Reset\nopen the portal\nchoose Reset"),
    ("2*3 = 6, a *single* star stays", "2*3 = 6, a *single* star stays"),
    (None, ""),
])
def test_markdown_becomes_the_words_a_reader_sees(markdown: str | None, shown: str) -> None:
    assert plain(markdown) == shown


def test_the_filter_escapes_what_it_leaves() -> None:
    page = templates.env.from_string("{{ text|plain }}").render(text="**<script>alert(1)</script>**")
    assert page == "&lt;script&gt;alert(1)&lt;/script&gt;"
