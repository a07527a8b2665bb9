"""A connector bound to the session's real slapd (the ``slapd`` fixture of tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.slapd_server import PASSWORDS, Slapd, ldap_settings
from pydantic import SecretStr

from api.integrations.ldap.client import LdapDirectory


@pytest.fixture
async def directory(slapd: Slapd) -> AsyncIterator[LdapDirectory]:
    ldap = LdapDirectory(ldap_settings(slapd), bind_password=SecretStr(PASSWORDS["deskmate"]))
    yield ldap
    await ldap.aclose()
