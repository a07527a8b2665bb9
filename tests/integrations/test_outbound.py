"""The outbound-HTTP guard: public addresses only, IPv6 forms that carry an IPv4 address judged by the IPv4
rules (#9: NAT64, 6to4 and IPv4-compatible addresses were taken for public ones)."""

from __future__ import annotations

import ipaddress

import pytest

from api.errors import OutboundRefused
from api.integrations.outbound import OutboundGuard, OutboundSettings, is_public

strict = OutboundGuard(OutboundSettings(allow_private=False, _env_file=None))  # type: ignore[call-arg]
lenient = OutboundGuard(OutboundSettings(allow_private=True, _env_file=None))  # type: ignore[call-arg]

PRIVATE_BEHIND_IPV6 = [
    "64:ff9b::a00:1",            # NAT64 of 10.0.0.1
    "64:ff9b::7f00:1",           # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",        # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b:1::c0a8:101",       # local-use NAT64 of 192.168.1.1
    "2002:a00:1::1",             # 6to4 of 10.0.0.1
    "2002:7f00:1::",             # 6to4 of 127.0.0.1
    "2002:6440:1::1",            # 6to4 of 100.64.0.1 (CGNAT)
    "::10.0.0.1",                # IPv4-compatible
    "::127.0.0.1",
    "::ffff:10.0.0.1",           # IPv4-mapped
    "::ffff:100.64.0.1",
]


@pytest.mark.parametrize("address", PRIVATE_BEHIND_IPV6)
def test_ipv6_addresses_carrying_a_private_ipv4_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(OutboundRefused, match="private or loopback") as refused:
        strict.check_url(f"https://[{address}]/hook")
    assert refused.value.permanent
    assert lenient.check_url(f"https://[{address}]/hook").host == address


@pytest.mark.parametrize("address", ["10.0.0.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "192.168.1.1",
                                     "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "ff02::1"])
def test_private_loopback_link_local_cgnat_and_multicast_are_refused(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "64:ff9b::5db8:d822", "2002:5db8:d822::1", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///nohost", "not a url"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(OutboundRefused):
        strict.check_url(url)


async def test_names_are_resolved_and_checked_then_pinned() -> None:
    with pytest.raises(OutboundRefused, match="resolves to 127.0.0.1"):
        await strict.resolve("http://localhost:8080/hook")
    target = await lenient.resolve("https://localhost:8443/hook")
    assert target.url.host in ("127.0.0.1", "::1") and target.host_header == "localhost:8443"
    assert target.sni_hostname == "localhost"
