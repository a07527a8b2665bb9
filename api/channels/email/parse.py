"""One raw e-mail -> what the desk needs from it. Never raises: whatever cannot be read becomes a note.

Text: the first text/plain part, else the first text/html part turned into clean text (BeautifulSoup); every
charset Python knows is decoded (ISO-8859-1 as Windows-1252, as mail clients mean it), an unknown one as UTF-8
with replacement characters. Auto-replies and bounces are recognised from their headers (RFC 3834
``Auto-Submitted``, ``Precedence``, ``X-Autoreply``/``X-Autorespond``, RFC 3464 delivery-status reports,
MAILER-DAEMON and null senders) so the desk records them and never answers them.
"""

from __future__ import annotations

import codecs
import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses

from bs4 import BeautifulSoup

from api.channels.email.settings import EmailSettings

TEXT_MAX = 20_000  # a ticket's description and a comment hold at most this many characters
TAG = re.compile(r"\[((?:INC|REQ)-\d{6,})\]", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]+>")
_IGNORED_PRECEDENCE = {"bulk", "auto_reply", "list", "junk"}
_REPORTS = {"delivery-status", "disposition-notification"}
_DAEMONS = ("mailer-daemon", "postmaster")
_SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|tr|rif)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre")
# Where the quoted history of a reply begins (the common clients' markers).
_QUOTE_START = re.compile(
    r"^(On .{1,200} wrote:|Le .{1,200} a écrit ?:|Am .{1,200} schrieb .{1,200}:|El .{1,200} escribió:"
    r"|-{2,} ?Original Message ?-{2,}|-{2,} ?Ursprüngliche Nachricht ?-{2,}|_{10,}"
    r"|From: .{1,300}\nSent: .{1,200})$", re.MULTILINE | re.IGNORECASE)


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    content: bytes | None  # None: listed on the ticket but not kept (the reason is in ParsedMail.notes)


@dataclass
class ParsedMail:
    message_id: str
    sender: str  # the address, lower-case ('' when there is none)
    sender_name: str
    subject: str
    text: str
    references: list[str] = field(default_factory=list)  # In-Reply-To first, then References, newest first
    ignore_reason: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str | None:
        """The ticket number in the subject's ``[INC-000123]`` tag, if any."""
        found = TAG.search(self.subject)
        return found.group(1).upper() if found else None

    @property
    def title(self) -> str:
        """The subject without Re:/Fwd: prefixes and the ticket tag, for a new ticket."""
        title = " ".join(_SUBJECT_PREFIX.sub("", TAG.sub("", self.subject)).split())
        return (title or "(no subject)")[:200]


def header(msg: Message, name: str) -> str:
    """A header's value as text (RFC 2047 words decoded); '' when absent or unreadable."""
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value)))).strip()
    except Exception:  # a malformed encoded word: keep what is there
        return str(value).strip()


def _charset(part: Message) -> str:
    name = (part.get_content_charset() or "utf-8").lower()
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return "utf-8"
    return "cp1252" if name in ("iso8859-1", "latin-1", "ascii") else name


def _text_of(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return payload.decode(_charset(part), errors="replace")


def html_to_text(html: str, *, drop_quotes: bool = False) -> str:
    """Readable text from HTML: no scripts, styles or tags; a line per block; (``drop_quotes``) no quoted history."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    if drop_quotes:
        for tag in soup.select("blockquote, div.gmail_quote, div#appendonsend, div#divRplyFwdMsg"):
            tag.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    return tidy(soup.get_text())


def tidy(text: str) -> str:
    """Trailing spaces gone, non-breaking spaces plain, at most one blank line in a row."""
    lines = [line.replace("\xa0", " ").rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trim_quoted(text: str) -> str:
    """The new part of a reply: the text before the quoted history (``> `` lines, "On … wrote:")."""
    found = _QUOTE_START.search(text)
    if found and found.start() > 0:
        text = text[:found.start()]
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return tidy("\n".join(kept)) or tidy(text)


def ignore_reason(msg: Message, sender: str) -> str | None:
    """Why this message is machine-made and must not be answered (None: a person wrote it)."""
    auto = header(msg, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted ({auto})"
    precedence = header(msg, "Precedence").lower()
    if precedence in _IGNORED_PRECEDENCE:
        return f"precedence {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if name in msg:
            return f"{name.lower()} header"
    report = str(msg.get_param("report-type") or "").lower()
    if msg.get_content_type() == "multipart/report" and report in _REPORTS:
        return f"{report} report"
    if sender.split("@")[0] in _DAEMONS:
        return f"sent by {sender}"
    if header(msg, "Return-Path") == "<>":
        return "null sender (a bounce)"
    return None


def _references(msg: Message) -> list[str]:
    refs = _MSGID.findall(header(msg, "In-Reply-To")) + list(reversed(_MSGID.findall(header(msg, "References"))))
    return list(dict.fromkeys(refs))[:50]


def _message_id(msg: Message, raw: bytes) -> str:
    found = _MSGID.search(header(msg, "Message-ID"))
    return found.group(0)[:500] if found else f"<sha256-{hashlib.sha256(raw).hexdigest()}@deskmate.invalid>"


def _is_attachment(part: Message) -> bool:
    if part.is_multipart() or part.get_content_type() == "message/rfc822":
        return False
    disposition = (part.get_content_disposition() or "").lower()
    return disposition == "attachment" or bool(part.get_filename()) or part.get_content_maintype() not in ("text",)


def _attachment(part: Message, limits: EmailSettings, notes: list[str], index: int) -> Attachment:
    name = part.get_filename()
    filename = (str(make_header(decode_header(name))) if name else f"attachment-{index}")[:255]
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    kind = part.get_content_type()
    if any(filename.lower().endswith(ext) for ext in limits.blocked_extensions):
        notes.append(f"Attachment {filename!r} was not kept: its type is blocked.")
        return Attachment(filename, kind, len(content), None)
    if len(content) > limits.max_attachment_bytes:
        notes.append(f"Attachment {filename!r} ({len(content)} bytes) was not kept: larger than "
                     f"{limits.max_attachment_bytes} bytes.")
        return Attachment(filename, kind, len(content), None)
    return Attachment(filename, kind, len(content), content)


def _body_and_files(msg: Message, limits: EmailSettings, notes: list[str]) -> tuple[str, list[Attachment]]:
    plain: str | None = None
    html: str | None = None
    files: list[Attachment] = []
    for part in msg.walk():
        try:
            if _is_attachment(part):
                if len(files) >= limits.max_attachments:
                    notes.append(f"More than {limits.max_attachments} attachments: the rest were not kept.")
                    break
                files.append(_attachment(part, limits, notes, len(files) + 1))
            elif part.get_content_type() == "text/plain" and plain is None:
                plain = _text_of(part)
            elif part.get_content_type() == "text/html" and html is None:
                html = _text_of(part)
        except Exception as exc:  # one unreadable part must not cost the rest of the message
            notes.append(f"A part of the message could not be read ({type(exc).__name__}).")
    text = tidy(plain) if plain and plain.strip() else html_to_text(html) if html else ""
    return text, files


def _defects(msg: Message) -> list[str]:
    return sorted({type(d).__name__ for part in msg.walk() for d in getattr(part, "defects", [])})


def parse(raw: bytes, *, limits: EmailSettings, oversized: int | None = None) -> ParsedMail:
    """What the desk needs from ``raw``. ``oversized``: the message's size when only its header was read."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    notes: list[str] = []
    name, address = (getaddresses([header(msg, "From")]) or [("", "")])[0]
    sender = address.strip().lower() if "@" in address else ""
    text, files = "", list[Attachment]()
    if oversized is not None:
        notes.append(f"The message was {oversized} bytes, over the limit of {limits.max_message_bytes}: "
                     "its text and attachments were not read.")
    else:
        text, files = _body_and_files(msg, limits, notes)
    if defects := _defects(msg):
        notes.append(f"The message's MIME structure is damaged ({', '.join(defects)}); what could be read is shown.")
    return ParsedMail(message_id=_message_id(msg, raw), sender=sender, sender_name=name.strip(),
                      subject=header(msg, "Subject").replace("\n", " ")[:1000], text=text,
                      references=_references(msg), ignore_reason=ignore_reason(msg, sender),
                      attachments=files, notes=notes)


def reply_text(parsed: ParsedMail) -> str:
    """The new part of a reply, for a comment."""
    return trim_quoted(parsed.text)


def clip(text: str, *, limit: int = TEXT_MAX) -> str:
    """``text`` cut to what a ticket holds, saying so when cut."""
    marker = "\n\n[… cut: the message was longer]"
    return text if len(text) <= limit else text[:limit - len(marker)] + marker
