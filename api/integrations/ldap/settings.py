"""LDAP / Active Directory settings: DESKMATE_LDAP_* (docs/directory.md, docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from api.integrations import settings_config


class LdapSettings(BaseSettings):
    model_config = settings_config("DESKMATE_LDAP_")

    url: str | None = Field(default=None, pattern=r"^ldaps?://", description="ldap://host:389 or ldaps://host:636")
    start_tls: bool = False  # StartTLS on an ldap:// URL before binding
    ca_file: Path | None = None  # PEM file of the CA(s) that signed the server's certificate; else the system store
    bind_dn: str | None = None
    # the service account's password as a token of `deskmate secrets encrypt` (api/crypto.py) ...
    bind_password_encrypted: str | None = None
    # ... or in clear text (development only; the encrypted one wins when both are set)
    bind_password: SecretStr | None = None
    users_base: str = ""
    groups_base: str = ""
    # groups under this subtree are requestable (the access catalogue); unset: none is
    requestable_base: str | None = None
    flavor: Literal["openldap", "ad"] = "openldap"
    # attribute names that differ between directories; unset: the flavour's default (docs/directory.md)
    username_attribute: str | None = None
    user_object_class: str | None = None
    group_object_class: str | None = None
    # OpenLDAP: the default password policy entry (slapo-ppolicy ppolicy_default), read for pwdLockoutDuration
    ppolicy_dn: str | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)  # per operation (receive timeout)
    pool_size: int = Field(default=4, ge=1, le=64)  # bound connections kept open, and concurrent operations

    @property
    def configured(self) -> bool:
        return bool(self.url and self.users_base)
