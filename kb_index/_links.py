"""Links in generated text: one URL parser decides where a link goes, and only allowed hosts stay links.

A link is kept only when it is an absolute ``http(s)`` URL whose host, as ``urllib.parse`` reads it
and normalised like a browser does (lower case, IDNA/punycode, no trailing dot), is allowed. Anything
a browser might read differently is refused rather than guessed at: user info (``a@b``), backslashes,
white space or control characters, percent-escapes in the host, bad ports, hosts that are no valid
IDNA name. The widget applies the same rule with the browser's own ``URL`` parser.

Candidates are found the way the widget finds them (``LINK``): Markdown links ``[title](target)`` and
bare URLs, which run to white space or one of ``<>"'`()[]`` (so ``https://a.example*@b.example`` is one
URL, whose host is ``b.example``); trailing ``.,;:!?*`` are punctuation, not part of the URL.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

LINK = re.compile(
    r"\[(?P<title>[^\]\n]{1,200})\]\((?P<target>[^)\s]{1,2000})\)"
    r"|(?P<bare>(?:https?:)?//[^\s<>\"'`()\[\]]+|\b(?:javascript|data|vbscript|file):[^\s<>\"'`]+)",
    re.IGNORECASE,
)
_TRAILING = re.compile(r"[.,;:!?*]+$")
_HOST = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*|[0-9a-f:.]+")
REMOVED = "(link removed)"


def normalize_host(name: str) -> str | None:
    """``name`` as a browser compares hosts: lower case, IDNA (punycode), no trailing dot; None if invalid."""
    try:
        host = name.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    return host if host and _HOST.fullmatch(host) else None


def link_host(url: str) -> str | None:
    """The host an absolute ``http(s)`` ``url`` leads to, or None when it is no such URL or is ambiguous.

    Parameters: ``url`` the link target as written. Returns the normalised host (``normalize_host``).
    """
    if "\\" in url or any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or "@" in parts.netloc or "%" in parts.netloc:
        return None
    return normalize_host(parts.hostname or "")


def link_hosts(texts: Iterable[str | None]) -> set[str]:
    """The hosts of the http(s) links (bare or Markdown) in ``texts``."""
    hosts = set()
    for text in texts:
        for m in LINK.finditer(text or ""):
            target = m.group("target") or _TRAILING.sub("", m.group("bare"))
            if host := link_host(target):
                hosts.add(host)
    return hosts


def filter_links(text: str, allowed: Collection[str]) -> str:
    """Keeps the links to ``allowed`` hosts (normalised); others lose their target.

    A Markdown link elsewhere becomes its (filtered) title; a bare URL becomes "(link removed)".
    """
    def keep(m: re.Match[str]) -> str:
        if m.group("title") is not None:
            return m.group(0) if link_host(m.group("target")) in allowed else filter_links(m.group("title"), allowed)
        url = _TRAILING.sub("", m.group("bare"))
        return (url if link_host(url) in allowed else REMOVED) + m.group("bare")[len(url):]

    return LINK.sub(keep, text)
