"""Outbound HTTP to addresses people configure (webhooks; later GLPI, Solman, LDAP URLs): public addresses
only, pinned after the check.

The host is resolved once; every address it resolves to must be globally routable unless
DESKMATE_OUTBOUND_ALLOW_PRIVATE is set. IPv6 addresses that carry an IPv4 address (IPv4-mapped
``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``,
6to4 ``2002::/16``) are judged by the IPv4 address they lead to. The request then goes to the
checked IP (Host header and TLS SNI keep the name, so certificates are verified against it), which
closes the DNS-rebinding gap between check and connect. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from functools import cache

import httpx
from pydantic_settings import BaseSettings

from api.errors import OutboundRefused
from api.integrations import settings_config

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
PRIVATE_HINT = "(DESKMATE_OUTBOUND_ALLOW_PRIVATE=true allows them)"


class OutboundSettings(BaseSettings):
    """DESKMATE_OUTBOUND_* (docs/configuration.md)."""

    model_config = settings_config("DESKMATE_OUTBOUND_")

    allow_private: bool = False


@dataclass(frozen=True)
class Target:
    url: httpx.URL       # with the checked IP as host
    host_header: str
    sni_hostname: str | None


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification context, built once (building one costs ~25 ms of CPU)."""
    return httpx.create_ssl_context()


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in IPV4_COMPATIBLE or any(address in net for net in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast; an IPv6 address carrying an IPv4 one is judged by the IPv4 rules."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


class OutboundGuard:
    """Checks URLs and the addresses they resolve to before anyone connects to them."""

    def __init__(self, settings: OutboundSettings) -> None:
        self.allow_private = settings.allow_private

    def _check_address(self, host: str, address: IPAddress, *, resolved: bool) -> None:
        if self.allow_private or is_public(address):
            return
        what = f"{host} resolves to {address}, a" if resolved else f"{host} is a"
        raise OutboundRefused(f"{what} private or loopback address; outbound requests go to public addresses "
                              f"{PRIVATE_HINT}.", permanent=True)

    def check_url(self, url: str) -> httpx.URL:
        """Refuses a non-http(s) URL, and a literal private IP unless allowed (no DNS: for saving settings)."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise OutboundRefused(f"{url!r} is not a valid URL: {exc}", permanent=True) from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise OutboundRefused(f"Outbound URLs are http(s) with a host, not {url!r}.", permanent=True)
        try:
            literal = ipaddress.ip_address(parsed.host)
        except ValueError:
            return parsed
        self._check_address(parsed.host, literal, resolved=False)
        return parsed

    async def resolve(self, url: str) -> Target:
        """Checks ``url`` and its resolved addresses; returns where to connect."""
        parsed = self.check_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OutboundRefused(f"Cannot resolve {parsed.host}: {exc.strerror}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            self._check_address(parsed.host, address, resolved=True)
        host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
        return Target(url=parsed.copy_with(host=str(addresses[0])), host_header=host_header,
                      sni_hostname=parsed.host if parsed.scheme == "https" else None)
