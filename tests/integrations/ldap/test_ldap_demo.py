"""The demo directory (data/demo/org.yml + data/demo/directory.yml) loaded into a real slapd."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml
from fakes.slapd_server import Slapd
from pydantic import SecretStr

from api.integrations.ldap import demo
from api.integrations.ldap.client import LdapDirectory
from api.integrations.ldap.settings import LdapSettings

EXTRA = yaml.safe_load((demo.DEMO_DIR / "directory.yml").read_text())
ORG = yaml.safe_load((demo.DEMO_DIR / "org.yml").read_text())


@pytest.fixture(scope="module")
async def demo_directory() -> AsyncIterator[tuple[Slapd, LdapDirectory]]:
    layout, text = demo.ldif(services={"deskmate": "demo-service-pw"})
    with Slapd(layout, text, writers=[layout.service("deskmate")]) as server:
        ldap = LdapDirectory(LdapSettings(url=server.url, bind_dn=layout.service("deskmate"), users_base=layout.people,
                                          groups_base=layout.groups, requestable_base=layout.requestable,
                                          ppolicy_dn=layout.policy, _env_file=None),  # type: ignore[call-arg]
                             bind_password=SecretStr("demo-service-pw"))
        yield server, ldap
        await ldap.aclose()


async def test_every_demo_person_is_in_the_directory_and_can_sign_in(demo_directory):
    server, ldap = demo_directory
    for person in ORG["people"]:
        found = await ldap.find_user(email=person["email"])
        assert found is not None and found.display_name == person["name"]
        assert found.username == person["email"].partition("@")[0]
    sam = await ldap.find_user(email="sam.lee@example.com")
    assert server.bind(sam.dn, EXTRA["password"])  # type: ignore[union-attr]


async def test_the_demo_has_managers_mobiles_and_a_locked_account_to_unlock(demo_directory):
    server, ldap = demo_directory
    jordan = await ldap.find_user(email="jordan.blake@example.com")
    assert jordan is not None and jordan.locked and jordan.mobile == "+15555550101"
    assert (await ldap.manager(jordan)).email == "casey.morgan@example.com"  # type: ignore[union-attr]
    await ldap.unlock(jordan, idempotency_key="demo:unlock")
    assert server.bind(jordan.dn, EXTRA["password"])


async def test_teams_are_groups_and_the_catalogue_is_requestable(demo_directory):
    _, ldap = demo_directory
    assert {g.name for g in await ldap.requestable_groups()} == {g["name"] for g in EXTRA["requestable"]}
    lee = await ldap.find_user(email="lee.cho@example.com")
    assert {(g.name, g.requestable) for g in await ldap.groups_of(lee)} == {  # type: ignore[arg-type]
        ("network", False), ("service-desk", False), ("vpn-users", True)}
