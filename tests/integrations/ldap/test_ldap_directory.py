"""The LDAP connector against a real slapd with the ppolicy overlay (conftest.py, tests/fakes/slapd_server.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from fakes.slapd_server import LAYOUT, PASSWORDS, Slapd, free_port, ldap_settings
from ldap3 import MODIFY_REPLACE
from pydantic import SecretStr

from api.integrations.directory import Directory, DirectoryError, DirectoryUnavailable
from api.integrations.ldap.client import LdapDirectory


def dn(uid: str) -> str:
    return LAYOUT.person(uid)


async def test_finds_a_user_by_username_or_email_with_their_details(directory: LdapDirectory):
    conforms: Directory = directory  # the connector is what the engine expects
    alice = await conforms.find_user(username="alice")
    assert alice is not None
    assert (alice.dn, alice.username, alice.email, alice.display_name, alice.mobile, alice.manager_dn) == (
        dn("alice"), "alice", "alice@deskmate.test", "Alice Archer", "+15555550111", dn("carol"))
    assert not alice.locked and not alice.must_change_password
    assert await directory.find_user(email="ALICE@deskmate.test") == alice  # mail matches case-insensitively
    assert await directory.find_user(username="alice", email="bob@deskmate.test") is None  # both must match
    assert await directory.find_user(username="nobody") is None
    assert (await directory.get_user(dn("bob"))).email == "bob@deskmate.test"


@pytest.mark.parametrize("name", ["*)(uid=*", "alice)(|(uid=*", "al*", "\\2a", "alice\x00"])
async def test_filter_injection_finds_nothing(directory: LdapDirectory, name: str):
    assert await directory.find_user(username=name) is None
    assert await directory.find_user(email=f"{name}@deskmate.test") is None


async def test_a_literal_asterisk_is_a_name_like_any_other(directory: LdapDirectory):
    """The escaped filter still matches the entry whose uid really is ``*`` — and only that one."""
    star = await directory.find_user(username="*")
    assert star is not None and star.email == "star@deskmate.test"


async def test_real_lockout_is_seen_and_unlocked(directory: LdapDirectory, slapd: Slapd):
    for _ in range(3):
        assert not slapd.bind(dn("dave"), "wrong")
    assert not slapd.bind(dn("dave"), "dave-pw")  # ppolicy: locked, even with the right password
    dave = await directory.find_user(username="dave")
    assert dave is not None and dave.locked
    await directory.unlock(dave, idempotency_key="run-1:unlock")
    await directory.unlock(dave, idempotency_key="run-1:unlock")  # a repeated step changes nothing
    assert not (await directory.get_user(dave.dn)).locked
    assert slapd.bind(dn("dave"), "dave-pw")


async def test_an_account_seeded_locked_reads_locked(directory: LdapDirectory, slapd: Slapd):
    gina = await directory.find_user(username="gina")
    assert gina is not None and gina.locked
    assert not slapd.bind(dn("gina"), "gina-pw")


async def test_a_lock_past_its_policy_duration_no_longer_counts(directory: LdapDirectory, slapd: Slapd):
    """With pwdLockoutDuration set, a lock older than the duration has expired (slapd lets the user in)."""
    policy = f"cn=short,ou=policies,{LAYOUT.suffix}"
    admin = slapd.admin()
    admin.add(policy, ["organizationalRole", "pwdPolicy"], {
        "cn": "short", "pwdAttribute": "userPassword", "pwdLockout": "TRUE", "pwdMaxFailure": "3",
        "pwdLockoutDuration": "300"})
    old = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y%m%d%H%M%SZ")
    admin.modify(dn("frank"), {"pwdPolicySubentry": [(MODIFY_REPLACE, [policy])],
                               "pwdAccountLockedTime": [(MODIFY_REPLACE, [old])]})
    assert not (await directory.find_user(username="frank")).locked  # type: ignore[union-attr]
    assert slapd.bind(dn("frank"), "frank-pw")
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%SZ")
    admin.modify(dn("frank"), {"pwdAccountLockedTime": [(MODIFY_REPLACE, [now])]})
    assert (await directory.find_user(username="frank")).locked  # type: ignore[union-attr]
    admin.unbind()


async def test_one_time_password_lets_the_user_in_and_must_be_changed(directory: LdapDirectory, slapd: Slapd):
    erin = await directory.find_user(username="erin")
    assert erin is not None and not erin.must_change_password
    otp = SecretStr("Temp-" + "4821-xq")
    await directory.set_one_time_password(erin, otp, idempotency_key="run-2:otp")
    await directory.set_one_time_password(erin, otp, idempotency_key="run-2:otp")  # the step repeated
    assert (await directory.get_user(erin.dn)).must_change_password
    assert slapd.bind(dn("erin"), otp.get_secret_value())
    assert not slapd.bind(dn("erin"), "erin-pw")


async def test_manager_is_read_from_the_manager_attribute(directory: LdapDirectory):
    alice = await directory.find_user(username="alice")
    boss = await directory.manager(alice)  # type: ignore[arg-type]
    assert boss is not None and (boss.username, boss.email) == ("carol", "carol@deskmate.test")
    assert await directory.manager(boss) is None  # no manager attribute
    dave = await directory.find_user(username="dave")
    assert dave is not None and dave.manager_dn == dn("ghost")
    assert await directory.manager(dave) is None  # the manager's entry does not exist


async def test_groups_of_a_user_and_the_requestable_catalogue(directory: LdapDirectory):
    alice = await directory.find_user(username="alice")
    assert [(g.name, g.requestable) for g in await directory.groups_of(alice)] == [  # type: ignore[arg-type]
        ("finance-share", True), ("staff", False)]
    catalogue = await directory.requestable_groups()
    assert {g.name for g in catalogue} == {"vpn-users", "finance-share", "build-agents"}
    vpn = next(g for g in catalogue if g.name == "vpn-users")
    assert (vpn.description, vpn.owner_dn, vpn.requestable) == ("Remote access through the VPN", dn("carol"), True)


async def test_membership_changes_are_idempotent(directory: LdapDirectory, slapd: Slapd):
    bob = await directory.find_user(username="bob")
    assert bob is not None
    group = next(g for g in await directory.requestable_groups() if g.name == "build-agents")
    for _ in range(2):
        await directory.add_to_group(bob, group, idempotency_key="run-3:add")
    admin = slapd.admin()
    admin.search(group.dn, "(objectClass=*)", attributes=["member"])
    assert sorted(admin.entries[0].member.values) == sorted([dn("carol"), dn("bob")])
    assert "build-agents" in {g.name for g in await directory.groups_of(bob)}
    for _ in range(2):
        await directory.remove_from_group(bob, group, idempotency_key="run-3:remove")
    admin.search(group.dn, "(objectClass=*)", attributes=["member"])
    assert admin.entries[0].member.values == [dn("carol")]
    admin.unbind()
    assert "build-agents" not in {g.name for g in await directory.groups_of(bob)}


async def test_concurrent_operations_share_the_pool(directory: LdapDirectory):
    found = await asyncio.gather(*(directory.find_user(username=u) for u in ["alice", "bob", "carol"] * 4))
    assert [u.username for u in found] == ["alice", "bob", "carol"] * 4  # type: ignore[union-attr]


async def test_unreachable_server_is_unavailable(slapd: Slapd):
    ldap = LdapDirectory(ldap_settings(slapd, url=f"ldap://127.0.0.1:{free_port()}", connect_timeout_s=2),
                         bind_password=SecretStr(PASSWORDS["deskmate"]))
    with pytest.raises(DirectoryUnavailable, match="unavailable"):
        await ldap.find_user(username="alice")
    await ldap.aclose()


async def test_an_account_without_write_rights_is_refused(slapd: Slapd):
    ldap = LdapDirectory(ldap_settings(slapd, bind_dn=LAYOUT.service("reader")),
                         bind_password=SecretStr(PASSWORDS["reader"]))
    bob = await ldap.find_user(username="bob")  # reading is allowed
    assert bob is not None
    with pytest.raises(DirectoryError, match="insufficient access") as refused:
        await ldap.unlock(bob, idempotency_key="run-4:unlock")
    assert not isinstance(refused.value, DirectoryUnavailable)
    group = next(g for g in await ldap.requestable_groups() if g.name == "vpn-users")
    with pytest.raises(DirectoryError, match="insufficient access"):
        await ldap.add_to_group(bob, group, idempotency_key="run-4:add")
    await ldap.aclose()


async def test_wrong_service_password_is_refused_without_the_password_in_the_text(slapd: Slapd):
    ldap = LdapDirectory(ldap_settings(slapd), bind_password=SecretStr("not-the-" + "password"))
    with pytest.raises(DirectoryError, match="credentials") as refused:
        await ldap.find_user(username="alice")
    assert not isinstance(refused.value, DirectoryUnavailable) and "not-the-password" not in str(refused.value)
    await ldap.aclose()


@pytest.mark.parametrize("how", ["ldaps", "starttls"])
async def test_tls_with_the_configured_ca(slapd: Slapd, how: str):
    settings = ldap_settings(slapd, url=slapd.ldaps_url, ca_file=slapd.ca_file) if how == "ldaps" else \
        ldap_settings(slapd, start_tls=True, ca_file=slapd.ca_file)
    ldap = LdapDirectory(settings, bind_password=SecretStr(PASSWORDS["deskmate"]))
    assert (await ldap.find_user(username="alice")) is not None
    await ldap.aclose()


async def test_tls_refuses_a_certificate_no_trusted_ca_signed(slapd: Slapd):
    ldap = LdapDirectory(ldap_settings(slapd, url=slapd.ldaps_url), bind_password=SecretStr(PASSWORDS["deskmate"]))
    with pytest.raises(DirectoryError, match="certificate is not trusted") as refused:
        await ldap.find_user(username="alice")
    assert not isinstance(refused.value, DirectoryUnavailable)  # a setting to fix, not an outage to retry
    await ldap.aclose()


async def test_a_directory_restart_between_operations_reconnects(directory: LdapDirectory, slapd: Slapd):
    assert await directory.find_user(username="alice") is not None  # leaves a bound connection in the pool
    slapd.restart()
    assert (await directory.find_user(username="bob")).email == "bob@deskmate.test"  # type: ignore[union-attr]
