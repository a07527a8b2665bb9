"""Signed approve/deny links for the e-mail an approver gets: no session needed, but only an untampered link of a
request still waiting, before it expires. Each link is used once: the first decision ends the request.

A link carries ``{"a": approval id, "d": "approve" | "deny", "n": the request's nonce, "r": the recipient's e-mail,
"x": expiry (unix seconds)}``, signed (itsdangerous, HMAC-SHA256, a salt of its own) with
``DESKMATE_WORKFLOW_APPROVAL_KEY``, else a key derived from ``DESKMATE_SECRET_KEY``, else in development a random
key in ``<data_dir>/approval.key``. The nonce ties the link to the request it was sent for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadData, URLSafeSerializer

from api.errors import DeskmateError, Forbidden
from api.settings import Settings

Decision = Literal["approve", "deny"]
_SALT = "deskmate.workflow-approval-link"
PATH = "/api/v1/workflows/approvals/link"


class LinkInvalid(Forbidden):
    type, title = "/problems/approval-link-invalid", "This approval link is not valid"


class LinkExpired(DeskmateError):
    status, type, title = 410, "/problems/approval-link-expired", "This approval link has expired"


@dataclass(frozen=True)
class Link:
    approval_id: int
    decision: Decision
    nonce: str
    recipient: str
    expires_at: int


def _key(settings: Settings) -> str:
    if settings.workflow_approval_key is not None:
        return settings.workflow_approval_key.get_secret_value()
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()  # itsdangerous derives a key of its own from the salt
    return settings.dev_key("approval.key")


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(_key(settings), salt=_SALT)


def sign(settings: Settings, link: Link) -> str:
    return str(_serializer(settings).dumps({"a": link.approval_id, "d": link.decision, "n": link.nonce,
                                            "r": link.recipient, "x": link.expires_at}))


def url(settings: Settings, link: Link) -> str:
    """The link's address under the api's public URL."""
    return f"{settings.base_url.rstrip('/')}{PATH}?t={sign(settings, link)}"


def verify(settings: Settings, token: str) -> Link:
    """The link in ``token``; LinkInvalid when it was changed or not signed here, LinkExpired after its expiry."""
    try:
        data = _serializer(settings).loads(token)
        link = Link(approval_id=int(data["a"]), decision=data["d"], nonce=str(data["n"]),
                    recipient=str(data["r"]), expires_at=int(data["x"]))
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("This approval link was changed or was not sent by this service desk; use the link "
                          "from the e-mail as it is.") from exc
    if link.decision not in ("approve", "deny"):
        raise LinkInvalid("This approval link names no decision.")
    if link.expires_at <= time.time():
        raise LinkExpired("This approval link has expired: the request was not decided in time.")
    return link
