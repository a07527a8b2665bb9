"""A real slapd for the session, seeded with a small organisation, and a connector bound to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pydantic import SecretStr
from slapd_support import GROUPS, LAYOUT, PASSWORDS, PEOPLE, Slapd, ldap_settings

from api.integrations.ldap.client import LdapDirectory
from api.integrations.ldap.slapd import ldif


@pytest.fixture(scope="session")
def slapd() -> Iterator[Slapd]:
    seed = ldif(LAYOUT, people=PEOPLE, groups=GROUPS, services=PASSWORDS)
    with Slapd(LAYOUT, seed, writers=[LAYOUT.service("deskmate")]) as server:
        yield server


@pytest.fixture
async def directory(slapd: Slapd) -> AsyncIterator[LdapDirectory]:
    ldap = LdapDirectory(ldap_settings(slapd), bind_password=SecretStr(PASSWORDS["deskmate"]))
    yield ldap
    await ldap.aclose()
