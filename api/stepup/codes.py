"""One-time codes: made by ``secrets``, kept only as HMAC-SHA256 under a key of this one purpose, compared in
constant time; TOTP codes matched without replay; factor destinations masked for what the bot may show.

The HMAC key is ``DESKMATE_STEPUP_KEY``, else derived from ``DESKMATE_SECRET_KEY`` (HKDF, its own purpose), else
in development a random key in ``<data_dir>/stepup.key``. Each challenge has its own random salt, so equal codes
never give equal hashes. A stolen database alone cannot test the million possible codes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.settings import Settings

DIGITS = 6
SALT_BYTES = 16
_PURPOSE = b"deskmate step-up codes v1"
_SEPARATORS = re.compile(r"[\s-]")
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"


def normalise(text: str) -> str | None:
    """The code in what someone typed ("123 456", "123-456"), or None when it is not six digits."""
    code = _SEPARATORS.sub("", text)
    return code if _CODE.fullmatch(code) else None


def hmac_key(settings: Settings) -> bytes:
    """The key stored codes are hashed with (see the module docstring)."""
    if settings.stepup.key is not None:
        return settings.stepup.key.get_secret_value().encode()
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value().encode()
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(secret)
    return settings.dev_key("stepup.key").encode()


def digest(key: bytes, salt: bytes, code: str) -> bytes:
    return hmac.new(key, salt + code.encode(), hashlib.sha256).digest()


def seal(key: bytes, code: str) -> tuple[bytes, bytes]:
    """A fresh salt and the code's HMAC under it: what a challenge stores instead of the code."""
    salt = secrets.token_bytes(SALT_BYTES)
    return salt, digest(key, salt, code)


def matches(key: bytes, salt: bytes, stored: bytes, code: str) -> bool:
    """Whether ``code`` is the one hashed as ``stored``, compared in constant time."""
    return hmac.compare_digest(digest(key, salt, code), stored)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_step(secret: str, code: str, *, at: datetime, used_up_to: int | None) -> int | None:
    """The time step whose code ``code`` is (the current one or one either side, for clock drift), or None.

    Steps at or before ``used_up_to`` (already accepted once) never match, so a code is never accepted twice.
    """
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at)
    found = None
    for step in (current - 1, current, current + 1):  # every candidate is compared: no early exit
        if hmac.compare_digest(totp.generate_otp(step), code) and (used_up_to is None or step > used_up_to):
            found = step
    return found


def mask_phone(phone: str) -> str:
    """``+441234567812`` → ``+44 •••• ••12``."""
    return f"{phone[:3]} •••• ••{phone[-2:]}"


def mask_email(address: str) -> str:
    """``jordan.blake@example.com`` → ``jo•••@example.com``."""
    local, _, domain = address.rpartition("@")
    return f"{local[:2] if len(local) > 3 else local[:1]}•••@{domain}"
