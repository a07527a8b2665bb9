"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the service's secret key.

    token = crypto.encrypt(settings, "whsec_…")     # store the token, never the plain text
    crypto.decrypt(settings, token)                 # -> "whsec_…"

The key is HKDF-SHA256 over ``Settings.effective_secret_key()`` with a fixed purpose label, so one
``DESKMATE_SECRET_KEY`` serves every purpose without reusing the raw value. Changing the secret key
makes stored secrets unreadable: ``decrypt`` raises ``SecretUnreadable`` and the owner re-enters them.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.errors import DeskmateError
from api.settings import Settings

_PURPOSE = b"deskmate secrets at rest v1"


class SecretUnreadable(DeskmateError):
    type, title = "/problems/secret-unreadable", "A stored secret cannot be decrypted"


@lru_cache(maxsize=8)
def _fernet(secret_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt(settings: Settings, plaintext: str) -> str:
    """Returns the Fernet token (URL-safe text) for ``plaintext``."""
    return _fernet(settings.effective_secret_key()).encrypt(plaintext.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    """Returns the plain text of a token made by ``encrypt`` with the same secret key."""
    try:
        return _fernet(settings.effective_secret_key()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored secret was encrypted with another DESKMATE_SECRET_KEY; set it again."
        ) from exc
