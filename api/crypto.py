"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a ring of rotatable encryption keys.

    token = crypto.encrypt(settings, "whsec_…")     # store the token, never the plain text
    crypto.decrypt(settings, token)                 # -> "whsec_…"

The key ring (cryptography's MultiFernet) is ``DESKMATE_ENCRYPTION_KEYS``, Fernet keys newest first; in
development, ``<data_dir>/encryption.keys`` (one key per line, newest first, made with keyfile). New secrets
are encrypted with the newest key; any key of the ring decrypts. Secrets stored before keys had their own
variable were encrypted with a key derived from ``DESKMATE_SECRET_KEY`` (HKDF); that key stays in the ring,
last, whenever the secret key is known, so they stay readable until ``deskmate keys rotate`` re-encrypts
every column listed in ``ENCRYPTED_COLUMNS`` with the newest key. Then the old keys can go.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from psycopg import sql

from api import keyfile
from api.db import Conn
from api.errors import DeskmateError
from api.settings import Settings

_LEGACY_PURPOSE = b"deskmate secrets at rest v1"
DEV_KEYS_FILE = "encryption.keys"


@dataclass(frozen=True)
class Column:
    table: str
    key: str
    column: str


# Every column that holds a Fernet token made by ``encrypt``: the one list ``deskmate keys rotate`` walks.
ENCRYPTED_COLUMNS = (
    Column("alert_rules", "id", "secret_encrypted"),  # webhook signing secrets (api/alerts)
    Column("stepup_totp", "user_id", "secret_encrypted"),  # authenticator app secrets (api/stepup)
    Column("mailboxes", "id", "password_encrypted"),  # IMAP passwords (api/channels/email)
    Column("sync_connectors", "id", "user_token_encrypted"),  # external service desk API tokens (api/integrations/sync)
    Column("sync_connectors", "id", "app_token_encrypted"),
    Column("sync_connectors", "id", "password_encrypted"),  # GLPI HL API OAuth (0033), SolMan Basic / OAuth2 (0035)
    Column("sync_connectors", "id", "client_secret_encrypted"),
    Column("sync_connectors", "id", "webhook_secret_encrypted"),  # GLPI webhook signing secrets
)


class SecretUnreadable(DeskmateError):
    type, title = "/problems/secret-unreadable", "A stored secret cannot be decrypted"


def _legacy_key(secret_key: str) -> str:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LEGACY_PURPOSE).derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw).decode()


def _split(text: str) -> list[str]:
    return [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]


def key_ring(settings: Settings) -> tuple[str, ...]:
    """The Fernet keys in use, newest first (the legacy key derived from the secret key last, when known)."""
    if settings.encryption_keys is not None:
        keys = _split(settings.encryption_keys.get_secret_value())
    elif settings.env != "production":
        keys = _split(settings.dev_key(DEV_KEYS_FILE, generate=lambda: Fernet.generate_key().decode()))
    else:
        keys = []
    legacy = settings.secret_key.get_secret_value() if settings.secret_key else None
    if legacy is None and settings.env != "production" and (settings.data_dir / "secret.key").exists():
        legacy = settings.effective_secret_key()
    if legacy is not None:
        keys.append(_legacy_key(legacy))
    if not keys:
        raise SecretUnreadable("No encryption key: set DESKMATE_ENCRYPTION_KEYS (docs/security.md).")
    return tuple(keys)


@lru_cache(maxsize=8)
def _multi(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise ValueError("DESKMATE_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes; "
                         "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
                         ) from exc


def encrypt(settings: Settings, plaintext: str) -> str:
    """Returns the Fernet token (URL-safe text) for ``plaintext``, under the newest key."""
    return _multi(key_ring(settings)).encrypt(plaintext.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    """Returns the plain text of a token made by ``encrypt`` under any key of the ring."""
    try:
        return _multi(key_ring(settings)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored secret was encrypted with a key that is no longer configured; set it again."
        ) from exc


def add_dev_key(settings: Settings) -> None:
    """Puts a new development key in front of ``<data_dir>/encryption.keys`` (the old ones stay, to decrypt)."""
    key_ring(settings)  # creates the file when missing
    path = settings.data_dir / DEV_KEYS_FILE
    keyfile.replace_secret(path, "\n".join([Fernet.generate_key().decode(), *_split(path.read_text())]) + "\n")


@dataclass
class Rotation:
    rotated: int = 0
    current: int = 0
    unreadable: int = 0


async def rotate(conn: Conn, settings: Settings, *, columns: tuple[Column, ...] = ENCRYPTED_COLUMNS) -> Rotation:
    """Re-encrypts every stored secret in ``columns`` with the newest key, one transaction per column.

    Tokens already under the newest key are left as they are; tokens no key can read are counted, not changed.
    """
    keys = key_ring(settings)
    newest, ring = Fernet(keys[0]), _multi(keys)
    result = Rotation()
    for col in columns:
        select = sql.SQL("SELECT {key} AS key, {col} AS token FROM {table} WHERE {col} IS NOT NULL FOR UPDATE").format(
            key=sql.Identifier(col.key), col=sql.Identifier(col.column), table=sql.Identifier(col.table))
        update = sql.SQL("UPDATE {table} SET {col} = %(token)s WHERE {key} = %(key)s").format(
            key=sql.Identifier(col.key), col=sql.Identifier(col.column), table=sql.Identifier(col.table))
        async with conn.transaction():
            for row in await (await conn.execute(select)).fetchall():
                token = row["token"].encode()
                try:
                    newest.decrypt(token)
                    result.current += 1
                    continue
                except InvalidToken:
                    pass
                try:
                    fresh = ring.rotate(token)
                except InvalidToken:
                    result.unreadable += 1
                    continue
                await conn.execute(update, {"token": fresh.decode(), "key": row["key"]})
                result.rotated += 1
    return result
