"""Signed widget identities and chat session tokens (itsdangerous, keyed by DESKMATE_SECRET_KEY).

An intranet page that knows who is signed in embeds ``sign_identity(settings, email)`` in the widget
tag; the gateway trusts only identities it can verify. Session tokens bind a browser to one
conversation.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.errors import Unauthorized
from api.settings import Settings

IDENTITY_MAX_AGE_S = 12 * 3600


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.effective_secret_key(), salt=salt)


def sign_identity(settings: Settings, email: str) -> str:
    """A signed assertion that ``email`` is the person using the widget (valid 12 hours)."""
    return _serializer(settings, "deskmate.widget-identity").dumps({"email": email})


def verify_identity(settings: Settings, token: str) -> str:
    try:
        data: dict[str, Any] = _serializer(settings, "deskmate.widget-identity").loads(token, max_age=IDENTITY_MAX_AGE_S)
    except SignatureExpired as exc:
        raise Unauthorized("The widget identity has expired; reload the page.") from exc
    except BadSignature as exc:
        raise Unauthorized("The widget identity is not valid.") from exc
    return str(data["email"])


def sign_session(settings: Settings, conversation_id: str) -> str:
    return _serializer(settings, "deskmate.chat-session").dumps({"c": conversation_id})


def verify_session(settings: Settings, token: str, conversation_id: str) -> None:
    """Raises Unauthorized unless ``token`` is a live session token for this conversation."""
    try:
        data = _serializer(settings, "deskmate.chat-session").loads(token, max_age=settings.chat_session_hours * 3600)
    except SignatureExpired as exc:
        raise Unauthorized("This chat session has expired; start a new conversation.") from exc
    except BadSignature as exc:
        raise Unauthorized("Send the conversation's session token in X-Chat-Session.") from exc
    if data.get("c") != conversation_id:
        raise Unauthorized("The session token belongs to another conversation.")
