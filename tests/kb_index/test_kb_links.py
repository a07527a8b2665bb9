"""The link filter of generated answers: one URL parser decides a link's host; only allowed hosts stay links."""

from __future__ import annotations

import pytest

import kb_index
from kb_index import filter_links, link_host

ALLOWED = {"example.okta.com", "intranet.example.com", kb_index.normalize_host("bücher.example")}


@pytest.mark.parametrize(("url", "host"), [
    ("https://example.okta.com/login", "example.okta.com"),
    ("http://EXAMPLE.Okta.com./x", "example.okta.com"),  # case and the trailing dot do not matter
    ("https://example.okta.com:8443/x", "example.okta.com"),
    ("https://example.okta.com*@evil.example/login", None),  # user info: the browser goes to evil.example
    ("https://example.okta.com@evil.example/", None),
    ("https://user:secret@example.okta.com/", None),
    ("https://evil.example\\@example.okta.com/", None),  # urllib would say example.okta.com, a browser evil.example
    ("https://evil.example\\.example.okta.com/", None),
    ("https://%65xample.okta.com/", None),  # browsers decode escapes in the host
    ("https://exa\tmple.okta.com/", None),  # browsers drop tabs and newlines
    ("https://example.okta.com:99999/", None),
    ("https://bücher.example/", "xn--bcher-kva.example"),  # IDN: compared as punycode
    ("https://exаmple.okta.com/", "xn--exmple-4nf.okta.com"),  # a Cyrillic "а": another host
    ("javascript:alert(1)", None),
    ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", None),
    ("//evil.example/login", None),  # protocol-relative
    ("/kb/articles/x", None),
    ("ftp://example.okta.com/", None),
])
def test_link_host_reads_urls_as_a_browser_would_or_refuses_them(url: str, host: str | None) -> None:
    assert link_host(url) == host


def test_the_okta_evil_link_is_removed_whole() -> None:
    text = "Sign in at https://example.okta.com*@evil.example/login and reset it."
    out = filter_links(text, ALLOWED)
    assert "evil.example" not in out and "(link removed) and reset it." in out


@pytest.mark.parametrize("text", [
    "Go to https://example.okta.com@evil.example/ now",
    "Go to https://evil.example\\@example.okta.com/ now",
    "Go to https://exаmple.okta.com/ now",
    "Go to https://xn--exmple-4nf.okta.com/ now",
    "Go to //evil.example/login now",
    "Go to javascript:alert(document.cookie) now",
    "Go to data:text/html,<script>alert(1)</script> now",
])
def test_tricks_are_removed(text: str) -> None:
    out = filter_links(text, ALLOWED)
    assert out.startswith("Go to (link removed)") and out.endswith(" now"), out


@pytest.mark.parametrize(("text", "expected"), [
    ("[the portal](https://example.okta.com/login)", "[the portal](https://example.okta.com/login)"),
    ("[the portal](https://example.okta.com@evil.example/)", "the portal"),
    ("[the portal](javascript:alert(1))", "the portal)"),
    ("[click](data:text/html,hi)", "click"),
    ("[click](//example.okta.com/x)", "click"),  # not absolute: not a link
    ("[https://example.okta.com](https://evil.example/)", "https://example.okta.com"),
    ("[https://evil.example](https://intranet.example.com/)", "[https://evil.example](https://intranet.example.com/)"),
])
def test_markdown_links_elsewhere_become_their_title(text: str, expected: str) -> None:
    assert filter_links(text, ALLOWED) == expected


@pytest.mark.parametrize("text", [
    "Open **https://example.okta.com**.",
    "See https://intranet.example.com/kb/kb-vpn (the guide), or https://bücher.example/x.",
    "Use https://EXAMPLE.okta.com./app, then sign in.",
])
def test_allowed_links_stay_as_written(text: str) -> None:
    assert filter_links(text, ALLOWED) == text


def test_hosts_named_in_sources_are_read_with_the_same_parser() -> None:
    content = "Go to **https://example.okta.com**, or [the wiki](https://Intranet.example.com/wiki); " \
              "not https://a.example*@b.example/x"
    assert kb_index.link_hosts([content, None]) == {"example.okta.com", "intranet.example.com"}
