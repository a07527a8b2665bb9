"""Signed single-use rating links for the survey e-mail: one per score, no session needed.

A link carries ``{"s": survey id, "v": score, "n": the survey's nonce, "x": expiry (unix seconds)}``, signed
(itsdangerous, HMAC-SHA256, a salt of its own) with ``DESKMATE_SECRET_KEY``, else in development a random key in
``<data_dir>/csat.key``; in production without ``DESKMATE_SECRET_KEY`` no link is made (the survey mail is not sent:
'failed', with the reason) and none verifies. Only the nonce's hash is stored (``csat_surveys.token_hash``): a link is good for the survey
it was sent for, until it expires (DESKMATE_CSAT_LINK_DAYS), and once — the first answer ends the survey.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

from api.errors import ChannelDeliveryFailed, DeskmateError, Forbidden
from api.settings import Settings

_SALT = "deskmate.csat-link"
PATH = "/csat"


class LinkInvalid(Forbidden):
    type, title = "/problems/csat-link-invalid", "This rating link is not valid"


class LinkExpired(DeskmateError):
    status, type, title = 410, "/problems/csat-link-expired", "This rating link has expired"


@dataclass(frozen=True)
class Link:
    survey_id: int
    score: int
    nonce: str
    expires_at: int


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def nonce_hash(nonce: str) -> bytes:
    return hashlib.sha256(nonce.encode()).digest()


def _serializer(settings: Settings) -> URLSafeSerializer | None:
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
    elif settings.env != "production":
        key = settings.dev_key("csat.key")
    else:
        return None
    return URLSafeSerializer(key, salt=_SALT)  # itsdangerous derives a key of its own from the salt


def sign(settings: Settings, link: Link) -> str:
    """The link's token; ChannelDeliveryFailed (permanent) when there is no key to sign it with."""
    serializer = _serializer(settings)
    if serializer is None:
        raise ChannelDeliveryFailed("Set DESKMATE_SECRET_KEY to send the satisfaction survey by e-mail: its links "
                                    "are signed with it.", permanent=True)
    return str(serializer.dumps({"s": link.survey_id, "v": link.score, "n": link.nonce, "x": link.expires_at}))


def url(settings: Settings, link: Link) -> str:
    """The link's address under the api's public URL."""
    return f"{settings.base_url.rstrip('/')}{PATH}/{sign(settings, link)}"


def verify(settings: Settings, token: str) -> Link:
    """The link in ``token``; LinkInvalid when it was changed or not signed here, LinkExpired after its expiry.
    Whether the nonce is still the survey's is for the caller to check (``nonce_hash``)."""
    serializer = _serializer(settings)
    try:
        if serializer is None:
            raise BadData("no key")
        data = serializer.loads(token)
        link = Link(survey_id=int(data["s"]), score=int(data["v"]), nonce=str(data["n"]), expires_at=int(data["x"]))
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid("This rating link was changed or was not sent by this service desk; use the link from "
                          "the e-mail as it is.") from exc
    if not 1 <= link.score <= 5:
        raise LinkInvalid("This rating link names no score from 1 to 5.")
    if link.expires_at <= time.time():
        raise LinkExpired("This rating link has expired; thank you all the same.")
    return link
