"""One-time sign-in links, e-mailed (``POST /signin/link``) or printed for an admin (``deskmate signin-link``).

A link carries 32 random bytes; only their SHA-256 hash is stored (``signin_links``), with an expiry of
``DESKMATE_WEB_SIGNIN_LINK_MINUTES``. Using it marks it used in the same statement that checks it, so it works
once. Asking for a link always gets the same answer, whether or not the address has an account, and the
e-mail goes out after the answer, so neither the words nor the timing tell who has one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from api import sql
from api.auth import service as people
from api.auth.models import Role, User
from api.db import Conn
from api.errors import BadRequest, DeskmateError, Forbidden, NotFound
from api.integrations.smtp.client import SmtpClient
from api.settings import Settings

Q = sql.load("api.web.signin")
PATH = "/signin/link/"
log = logging.getLogger(__name__)


class LinkRefused(BadRequest):
    type, title = "/problems/signin-link", "This sign-in link cannot be used"


class UnknownAccount(Forbidden):
    type, title = "/problems/unknown-account", "No deskmate account for this sign-in"


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def may_sign_in(user: User | None) -> bool:
    """People sign in to the web pages; service identities and deactivated users do not."""
    return user is not None and user.active and user.role is not Role.service


async def issue(conn: Conn, settings: Settings, *, user_id: int) -> str:
    """A new one-time link token for ``user_id``; the plain token exists only in the return value."""
    token = secrets.token_urlsafe(32)
    await conn.execute(Q.create_link, {"token_hash": _hash(token), "user_id": user_id,
                                       "minutes": settings.web.signin_link_minutes})
    return token


def url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}{token}"


async def link_for(conn: Conn, settings: Settings, *, email: str, base_url: str) -> str:
    """A sign-in URL for the person with ``email`` (``deskmate signin-link``); NotFound when they may not sign in."""
    user = await people.get_by_email(conn, email=email)
    if not may_sign_in(user):
        raise NotFound(f"No active person with the e-mail {email} (service identities cannot sign in).")
    assert user is not None
    return url(base_url, await issue(conn, settings, user_id=user.id))


async def prepare_mail(conn: Conn, settings: Settings, *, email: str, base_url: str) -> tuple[str, str] | None:
    """(address, URL) of the link to mail when ``email`` belongs to a person who may sign in, else None."""
    user = await people.get_by_email(conn, email=email)
    if not may_sign_in(user):
        return None
    assert user is not None
    return user.email, url(base_url, await issue(conn, settings, user_id=user.id))


async def send(settings: Settings, *, to: str, link: str) -> None:
    """Mails the link; a failure is logged (the person already has their neutral answer) and never raised."""
    body = (f"Sign in to deskmate with this link:\n\n{link}\n\nIt works once, for {settings.web.signin_link_minutes} "
            "minutes. If you did not ask to sign in, ignore this e-mail.\n")
    try:
        await SmtpClient(settings.smtp).send(to=to, subject="Your deskmate sign-in link", body=body,
                                             delivery_key=f"signin-{secrets.token_hex(8)}")
    except DeskmateError as exc:
        log.warning("sign-in link not mailed", extra={"error": exc.detail})


async def use(conn: Conn, *, token: str) -> int:
    """Uses the link once and returns its user's id; LinkRefused when it is unknown, used or expired."""
    row = await (await conn.execute(Q.use_link, {"token_hash": _hash(token)})).fetchone()
    if row is not None:
        return int(row["user_id"])
    state = await (await conn.execute(Q.get_link, {"token_hash": _hash(token)})).fetchone()
    if state is None:
        raise LinkRefused("This sign-in link is not valid. Ask for a new one.")
    if state["used_at"] is not None:
        raise LinkRefused("This sign-in link was already used; each link works once. Ask for a new one.")
    raise LinkRefused("This sign-in link has expired. Ask for a new one.")
