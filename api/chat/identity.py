"""Signed widget identities (per embedding site, with key ids) and chat session tokens, each under its own keys.

Widget identities. An intranet page that knows who is signed in embeds a short-lived JWT (HS256) in the
widget tag; the gateway trusts only identities it can verify. Each embedding site has its own signing
keys, ``DESKMATE_WIDGET_SITE_KEYS=site:kid:secret,…`` (newest first per site; in development one generated
key, site ``dev``, in ``<data_dir>/widget-site.key``). The JWT header names the key (``kid``); the claims
are ``sub`` (the employee's e-mail), ``aud`` = ``deskmate-widget-identity``, ``iss`` = the site, ``iat``
and ``exp`` (at most 12 hours later). To rotate a site's key, list the new key before the old one: both
verify while pages still carry identities signed with the old one; then remove the old one. A site key
signs identities and nothing else, and gives no other power.

Chat sessions. Session tokens bind a browser to one conversation (itsdangerous), signed with
``DESKMATE_SESSION_KEYS`` (newest first; the others still verify), or a key derived from
``DESKMATE_SECRET_KEY``, or in development ``<data_dir>/session.key``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.errors import Unauthorized
from api.settings import Settings

IDENTITY_MAX_AGE_S = 12 * 3600
IDENTITY_AUDIENCE = "deskmate-widget-identity"
DEV_SITE, DEV_KID = "dev", "dev-1"
_SESSION_SALT = "deskmate.chat-session"


@dataclass(frozen=True)
class SiteKey:
    site: str
    kid: str
    secret: str = ""

    def __repr__(self) -> str:
        return f"SiteKey(site={self.site!r}, kid={self.kid!r})"


def site_keys(settings: Settings) -> list[SiteKey]:
    """The widget identity signing keys, newest first per site."""
    if settings.widget_site_keys is None:
        if settings.env == "production":
            return []
        return [SiteKey(DEV_SITE, DEV_KID, settings.dev_key("widget-site.key"))]
    return parse_site_keys(settings.widget_site_keys.get_secret_value())


def parse_site_keys(text: str) -> list[SiteKey]:
    """Parses ``site:kid:secret,…``; ValueError on a malformed entry, a short secret or a repeated kid."""
    keys: list[SiteKey] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        site, kid, secret = (entry.split(":", 2) + ["", ""])[:3]
        if not site or not kid or len(secret) < 32:
            raise ValueError("DESKMATE_WIDGET_SITE_KEYS entries are site:kid:secret with a secret of at least "
                             f"32 characters; {site or '?'}:{kid or '?'} is not")
        if any(k.kid == kid for k in keys):
            raise ValueError(f"DESKMATE_WIDGET_SITE_KEYS names the key id {kid!r} twice")
        keys.append(SiteKey(site, kid, secret))
    return keys


def _signing_key(settings: Settings, site: str | None) -> SiteKey:
    keys = site_keys(settings)
    site = site or settings.widget_default_site or (keys[0].site if keys else None)
    for key in keys:
        if key.site == site:
            return key
    raise Unauthorized(f"No widget identity key for the site {site!r}; see DESKMATE_WIDGET_SITE_KEYS.")


def sign_identity(settings: Settings, email: str, *, site: str | None = None,
                  max_age_s: int = IDENTITY_MAX_AGE_S) -> str:
    """A signed assertion that ``email`` is the person using the widget on ``site`` (valid 12 hours).

    The intranet back end of an embedding site does the same with its own key and any JWT library.
    """
    key = _signing_key(settings, site)
    now = int(time.time())
    claims = {"sub": email, "aud": IDENTITY_AUDIENCE, "iss": key.site, "iat": now, "exp": now + max_age_s}
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})


def verify_identity(settings: Settings, token: str) -> str:
    """The e-mail in a widget identity signed by a configured site key; Unauthorized otherwise."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError as exc:
        raise Unauthorized("The widget identity is not valid.") from exc
    key = next((k for k in site_keys(settings) if k.kid == kid), None)
    if key is None:
        raise Unauthorized("The widget identity is signed with an unknown or retired key.")
    try:
        claims: dict[str, Any] = jwt.decode(token, key.secret, algorithms=["HS256"], audience=IDENTITY_AUDIENCE,
                                            issuer=key.site, options={"require": ["sub", "iat", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The widget identity has expired; reload the page.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The widget identity is not valid.") from exc
    if int(claims["exp"]) - int(claims["iat"]) > IDENTITY_MAX_AGE_S:
        raise Unauthorized("The widget identity is valid for too long; sign it for at most 12 hours.")
    return str(claims["sub"])


def session_keys(settings: Settings) -> list[str]:
    """The chat session keys, newest first."""
    if settings.session_keys is not None:
        return [k.strip() for k in settings.session_keys.get_secret_value().split(",") if k.strip()]
    if settings.secret_key is not None:
        return [settings.secret_key.get_secret_value()]  # itsdangerous derives a key of its own per salt
    return [settings.dev_key("session.key")]


def _sessions(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(list(reversed(session_keys(settings))), salt=_SESSION_SALT)  # signs with the last


def sign_session(settings: Settings, conversation_id: str) -> str:
    return _sessions(settings).dumps({"c": conversation_id})


def verify_session(settings: Settings, token: str, conversation_id: str) -> None:
    """Raises Unauthorized unless ``token`` is a live session token for this conversation."""
    try:
        data = _sessions(settings).loads(token, max_age=settings.chat_session_hours * 3600)
    except SignatureExpired as exc:
        raise Unauthorized("This chat session has expired; start a new conversation.") from exc
    except BadSignature as exc:
        raise Unauthorized("Send the conversation's session token in X-Chat-Session.") from exc
    if data.get("c") != conversation_id:
        raise Unauthorized("The session token belongs to another conversation.")
