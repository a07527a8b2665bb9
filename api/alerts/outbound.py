"""Outbound HTTP to addresses people configure (webhooks): public addresses only, pinned after the check.

The host is resolved once; every address it resolves to must be globally routable unless
DESKMATE_OUTBOUND_ALLOW_PRIVATE is set. The request then goes to the checked IP (Host header and TLS
SNI keep the name, so certificates are verified against it), which closes the DNS-rebinding gap
between check and connect. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from api.errors import WebhookError


@dataclass(frozen=True)
class Target:
    url: httpx.URL       # with the checked IP as host
    host_header: str
    sni_hostname: str | None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_url(url: str, *, allow_private: bool) -> httpx.URL:
    """Refuses a non-http(s) URL, and a literal private IP unless allowed (no DNS: for saving rules)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WebhookError(f"Webhook URLs are http(s) with a host, not {url!r}.", permanent=True)
    try:
        literal = ipaddress.ip_address(parsed.host)
    except ValueError:
        return parsed
    if not allow_private and not is_public(literal):
        raise WebhookError(f"{parsed.host} is a private or loopback address; webhooks go to public addresses "
                           "(DESKMATE_OUTBOUND_ALLOW_PRIVATE=true allows them).", permanent=True)
    return parsed


async def resolve(url: str, *, allow_private: bool) -> Target:
    """Checks ``url`` and its resolved addresses; returns where to connect."""
    parsed = check_url(url, allow_private=allow_private)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise WebhookError(f"Cannot resolve {parsed.host}: {exc.strerror}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    private = [a for a in addresses if not is_public(a)]
    if private and not allow_private:
        raise WebhookError(f"{parsed.host} resolves to {private[0]}, a private or loopback address; webhooks go "
                           "to public addresses (DESKMATE_OUTBOUND_ALLOW_PRIVATE=true allows them).", permanent=True)
    ip = addresses[0]
    host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    return Target(url=parsed.copy_with(host=str(ip)), host_header=host_header,
                  sni_hostname=parsed.host if parsed.scheme == "https" else None)
