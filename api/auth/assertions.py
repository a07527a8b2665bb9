"""Per-turn assertions: the gateway's signed word that one verified employee is talking in one conversation.

The chat gateway verifies the person (widget session, later Slack or Teams), then mints an assertion for
each turn it forwards to Rasa. It travels in Rasa's metadata to the action server, which sends it to the
api in ``X-Deskmate-Assertion`` next to its service token. The api acts for the assertion's subject only
after :func:`verify` and a check that the conversation belongs to that subject (api/auth/deps.py).

A JWT (HS256) with ``aud="deskmate-actions"``, ``sub`` (the employee's e-mail), ``cid`` (the conversation),
``iat``, ``exp`` (two minutes) and ``jti``. Its key has this one purpose: ``DESKMATE_ASSERTION_KEY``, or in
development a random key kept in ``<data_dir>/assertion.key``. Never the master secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from api import keyfile
from api.errors import Unauthorized
from api.settings import Settings

AUDIENCE = "deskmate-actions"
TTL_S = 120
ALGORITHM = "HS256"


@dataclass(frozen=True)
class Assertion:
    subject: str
    conversation_id: str
    expires_at: datetime


def _key(settings: Settings) -> str:
    if settings.assertion_key is not None:
        return settings.assertion_key.get_secret_value()
    return keyfile.read_or_create(settings.data_dir / "assertion.key")


def mint(settings: Settings, *, subject: str, conversation_id: str, ttl_s: int = TTL_S) -> str:
    """An assertion that ``subject`` (an employee's e-mail) is talking in ``conversation_id``, valid ``ttl_s``."""
    now = int(datetime.now(UTC).timestamp())
    claims = {"aud": AUDIENCE, "sub": subject, "cid": conversation_id, "iat": now, "exp": now + ttl_s,
              "jti": secrets.token_urlsafe(12)}
    return jwt.encode(claims, _key(settings), algorithm=ALGORITHM)


def verify(settings: Settings, token: str) -> Assertion:
    """The assertion in ``token``; Unauthorized when its signature, audience or expiry is wrong."""
    try:
        claims = jwt.decode(token, _key(settings), algorithms=[ALGORITHM], audience=AUDIENCE,
                            options={"require": ["aud", "sub", "cid", "exp", "iat", "jti"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The per-turn assertion has expired.") from exc
    except jwt.InvalidAudienceError as exc:
        raise Unauthorized("The assertion is not meant for the action server.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The per-turn assertion is not valid.") from exc
    if not isinstance(claims["sub"], str) or not isinstance(claims["cid"], str):
        raise Unauthorized("The per-turn assertion is not valid.")
    return Assertion(subject=claims["sub"], conversation_id=claims["cid"],
                     expires_at=datetime.fromtimestamp(claims["exp"], UTC))
