"""The configured directory, with its service account's password decrypted.

    from api.integrations.ldap.connect import directory
    ldap = directory(settings)
    user = await ldap.find_user(username="jordan.blake")
    await ldap.unlock(user, idempotency_key=step_key)
"""

from __future__ import annotations

from pydantic import SecretStr

from api import crypto
from api.integrations.ldap.client import LdapDirectory
from api.settings import Settings


def bind_password(settings: Settings) -> SecretStr | None:
    """DESKMATE_LDAP_BIND_PASSWORD_ENCRYPTED decrypted (api/crypto.py), else DESKMATE_LDAP_BIND_PASSWORD, else None."""
    if settings.ldap.bind_password_encrypted:
        return SecretStr(crypto.decrypt(settings, settings.ldap.bind_password_encrypted))
    return settings.ldap.bind_password


def directory(settings: Settings) -> LdapDirectory:
    """The directory DESKMATE_LDAP_* names; the caller closes it (``await directory.aclose()``)."""
    return LdapDirectory(settings.ldap, bind_password=bind_password(settings))
