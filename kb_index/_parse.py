"""Reading articles: Markdown with YAML front matter, HTML, plain text; a directory of them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import yaml
from bs4 import BeautifulSoup, NavigableString, Tag

from kb_index._types import AUDIENCES, Article, Audience, Format, Status

SUFFIXES: dict[str, Format] = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                               ".txt": "text"}
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_SKIP_TAGS = {"script", "style", "nav", "header", "footer", "noscript", "template", "head"}
_META_KEYS = ("id", "category", "tags", "url", "audience", "status")


class ArticleError(ValueError):
    """An article that cannot be read: bad front matter, unknown audience, missing title…"""


def slugify(text: str) -> str:
    """``"VPN: set-up & tips"`` -> ``"vpn-set-up-tips"`` (lower-case ASCII, at most 100 characters)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:100].strip("-") or "article"


def parse_text(
    text: str, *, fmt: Format = "markdown", default_id: str | None = None, source_path: str | None = None
) -> Article:
    """Parses one article.

    Parameters: ``text`` the file's content; ``fmt`` markdown, html or text; ``default_id`` the id
    when the article names none (usually the file name). Returns the Article; raises ArticleError.
    """
    if fmt == "html":
        meta, title, body = _from_html(text)
    else:
        meta, body = _split_front_matter(text)
        title = None
        if fmt == "text" and not meta.get("title"):
            first, _, rest = body.strip().partition("\n")
            title, body = first.strip(), rest
    title = str(meta.get("title") or title or _first_h1(body) or "").strip()
    if not title:
        raise ArticleError("the article has no title (front matter 'title', an H1, or a first line)")
    return _article(meta, title=title, body=body.strip(), fmt=fmt, default_id=default_id or slugify(title),
                    source_path=source_path)


def parse_file(path: Path) -> Article:
    """Parses the file by its suffix (.md, .markdown, .html, .htm, .txt); the id defaults to the file name."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ArticleError(f"{path.name}: unsupported file type (use {', '.join(SUFFIXES)})")
    try:
        return parse_text(path.read_text(encoding="utf-8"), fmt=fmt, default_id=slugify(path.stem),
                          source_path=str(path.resolve()))
    except ArticleError as exc:
        raise ArticleError(f"{path.name}: {exc}") from exc


def article_files(directory: Path) -> list[Path]:
    """The article files under ``directory`` (recursive, sorted); README files are not articles."""
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not p.stem.lower().startswith("readme"))


def load_dir(directory: Path) -> list[Article]:
    """Every article under ``directory``; ArticleError when one is unreadable or two share an id."""
    if not directory.is_dir():
        raise ArticleError(f"{directory} is not a directory")
    articles = [parse_file(p) for p in article_files(directory)]
    _check_unique(articles)
    return articles


def _check_unique(articles: Iterable[Article]) -> None:
    seen: dict[str, str | None] = {}
    for a in articles:
        if a.id in seen:
            raise ArticleError(f"two articles have the id {a.id!r}: {seen[a.id]} and {a.source_path}")
        seen[a.id] = a.source_path


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise ArticleError(f"the front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArticleError("the front matter must be a YAML mapping")
    return meta, text[match.end():]


def _first_h1(body: str) -> str | None:
    match = _H1.search(body)
    return match.group(1) if match else None


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ArticleError("tags must be a list or a comma-separated string")
    return tuple(dict.fromkeys(str(t).strip().lower() for t in items if str(t).strip()))


def _article(meta: dict[str, Any], *, title: str, body: str, fmt: Format, default_id: str,
             source_path: str | None) -> Article:
    article_id = str(meta.get("id") or default_id).strip()
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,99}", article_id):
        raise ArticleError(f"id {article_id!r} must be a lower-case slug (a-z, 0-9, '-')")
    audience = str(meta.get("audience") or "employee").strip().lower()
    if audience not in AUDIENCES:
        raise ArticleError(f"audience {audience!r} must be one of {', '.join(AUDIENCES)}")
    status = str(meta.get("status") or "published").strip().lower()
    if status not in ("draft", "published"):
        raise ArticleError(f"status {status!r} must be draft or published")
    if not body:
        raise ArticleError("the article has no text")
    category = str(meta["category"]).strip().lower() if meta.get("category") else None
    return Article(
        id=article_id, title=title, body=body, category=category, tags=_tags(meta.get("tags")),
        url=str(meta["url"]).strip() if meta.get("url") else None, audience=cast(Audience, audience),
        status=cast(Status, status), format=fmt, source_path=source_path,
    )


def html_to_text(text: str) -> str:
    """An HTML document's body as Markdown-like text (headings as #, lists as -, tables as rows)."""
    return _from_html(text)[2]


def _from_html(text: str) -> tuple[dict[str, Any], str | None, str]:
    """Metadata from <meta name=…>, the title, and the body as Markdown-like text."""
    soup = BeautifulSoup(text, "html.parser")
    meta: dict[str, Any] = {}
    for key in _META_KEYS:
        tag = soup.find("meta", attrs={"name": re.compile(rf"^(kb[:.-])?{key}$", re.I)})
        if isinstance(tag, Tag) and tag.get("content"):
            meta[key] = str(tag["content"])
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if isinstance(title_tag, Tag) else None
    root = soup.find("body") or soup
    lines: list[str] = []
    _render(cast(Tag, root), lines)
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return meta, title or _first_h1(body), body


def _inline(node: Tag | NavigableString) -> str:
    text = node.get_text(" ", strip=True) if isinstance(node, Tag) else str(node)
    return re.sub(r"\s+", " ", text).strip()


def _render(node: Tag, lines: list[str], depth: int = 0) -> None:
    """Appends the Markdown-like lines of ``node``'s block structure to ``lines``."""
    for child in node.children:
        if isinstance(child, NavigableString):
            if child.strip() and type(child) is NavigableString:
                lines.append(_inline(child))
            continue
        if not isinstance(child, Tag) or child.name in _SKIP_TAGS:
            continue
        name = child.name
        if name in _HEADINGS:
            lines += ["", "#" * _HEADINGS[name] + " " + _inline(child), ""]
        elif name in ("ul", "ol"):
            for i, item in enumerate(child.find_all("li", recursive=False), start=1):
                nested = item.find_all(["ul", "ol"], recursive=False)
                for sub in nested:
                    sub.extract()
                marker = f"{i}." if name == "ol" else "-"
                lines.append("  " * depth + f"{marker} {_inline(item)}")
                for sub in nested:
                    _render(_wrap(sub), lines, depth + 1)
            lines.append("")
        elif name == "pre":
            lines += ["", "```", child.get_text().strip("\n"), "```", ""]
        elif name == "table":
            for row in child.find_all("tr"):
                lines.append(" | ".join(_inline(c) for c in row.find_all(["th", "td"])))
            lines.append("")
        elif name in ("p", "blockquote", "dt", "dd", "figcaption", "summary"):
            lines += [_inline(child), ""]
        elif name == "br":
            lines.append("")
        elif any(isinstance(c, Tag) and c.name not in _INLINE for c in child.children):
            _render(child, lines, depth)
        else:
            text = _inline(child)
            if text:
                lines += [text, ""]


_INLINE = {"a", "b", "strong", "i", "em", "code", "span", "small", "sub", "sup", "kbd", "mark", "u", "abbr", "img"}


def _wrap(tag: Tag) -> Tag:
    """A throw-away parent so ``_render`` handles ``tag`` itself as a child."""
    holder = BeautifulSoup("<div></div>", "html.parser").div
    assert holder is not None
    holder.append(tag)
    return holder
