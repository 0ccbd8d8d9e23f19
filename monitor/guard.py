"""Hosts and addresses: which ones a link or a redirect may reach, and which belong to one site.

The address guard is checked on the address actually connected to: the guarded network backend
resolves the host itself, refuses the connection when any of its addresses is not public, and
connects to an address it checked (so a second DNS answer cannot swap in another one). Hosts named
in the config are trusted; ``fetch.allow_private_networks`` turns the guard off. Through a proxy the
proxy connects, so there the same rule is checked on our own resolution before the request
(:func:`check_host`), which is the best a client can do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from .pools import PoolPerOrigin

__all__ = [
    "BLOCKED_NETWORKS",
    "LOCAL_NAMES",
    "METADATA_HOSTS",
    "AddressBlocked",
    "GuardedTransport",
    "Resolver",
    "check_host",
    "is_public_address",
    "site_of",
    "system_resolver",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not public, whatever else they are: the IANA special-purpose registries, plus cloud metadata
# endpoints that sit on otherwise public-looking addresses (data, walked by is_public_address).
BLOCKED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n) for n in (
        # IPv4: this network, private, shared (CGNAT, incl. Alibaba's 100.100.100.200 metadata),
        # loopback, link-local (incl. 169.254.169.254 metadata), IETF protocol assignments (incl.
        # Oracle's 192.0.0.192), documentation, 6to4 relay, benchmarking, multicast, reserved, broadcast
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "168.63.129.16/32",  # Azure's wire server / metadata address
        # IPv6: unspecified, loopback, IPv4-mapped and -compatible, NAT64, discard, Teredo and other
        # IETF assignments, documentation, 6to4, unique local (incl. AWS's fd00:ec2::254), link-local,
        # site-local, multicast
        "::/128", "::1/128", "::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/23", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Names that mean "this machine" or a cloud's metadata service, refused before any lookup.
METADATA_HOSTS: frozenset[str] = frozenset({
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.com", "metadata.packet.net", "metadata.tencentyun.com",
})
LOCAL_NAMES: tuple[re.Pattern[str], ...] = (
    re.compile(r"(^|\.)localhost$"), re.compile(r"\.(internal|local|localdomain|home\.arpa|intranet|lan)$"),
)


class AddressBlocked(Exception):
    """A connection to a non-public address was refused. Not an httpx error on purpose: it must not
    be mistaken for a network failure and retried."""

    def __init__(self, host: str, address: str, why: str = "is not a public address") -> None:
        self.host = host
        self.address = address
        shown = host.strip("[]")
        super().__init__(f"{host} resolves to {address}, which {why}" if address != shown else f"{shown} {why}")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped (::ffff:a.b.c.d), 6to4 (2002:aabb:ccdd::),
    NAT64 (64:ff9b::a.b.c.d) or the deprecated compatible form (::a.b.c.d)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str | Address) -> bool:
    """True for a global unicast address. IPv6 forms that carry an IPv4 address are judged by it
    as well (and are refused as such: a public site has no need to be reached through them)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None and not is_public_address(embedded):
            return False
    if any(ip in net for net in BLOCKED_NETWORKS):
        return False
    special = (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
               or ip.is_unspecified)
    if isinstance(ip, ipaddress.IPv6Address):
        special = special or ip.is_site_local
    return not special


def blocked_name(host: str) -> bool:
    """A name that means this machine, the local network or a cloud metadata service."""
    name = host.lower().rstrip(".")
    return name in METADATA_HOSTS or any(p.search(name) for p in LOCAL_NAMES)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_host(host: str, port: int, resolver: Resolver, timeout: float | None = None) -> list[str]:
    """The addresses of ``host``, all of them public, else AddressBlocked (httpcore.ConnectError
    when it does not resolve). An IP literal is judged as it is, without a lookup."""
    literal = _literal(host)
    if literal is not None:
        if not is_public_address(literal):
            raise AddressBlocked(host, str(literal))
        return [str(literal)]
    if blocked_name(host):
        raise AddressBlocked(host, host.strip("[]"), "is a local or cloud metadata name")
    try:
        addresses = await asyncio.wait_for(resolver(host, port), timeout)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc or type(exc).__name__}") from exc
    if not addresses:
        raise httpcore.ConnectError(f"cannot resolve {host}")
    for address in addresses:
        if not is_public_address(address):
            raise AddressBlocked(host, address)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend, trusted: Callable[[str], bool],
                 resolver: Resolver) -> None:
        self.inner = inner
        self.trusted = trusted
        self.resolver = resolver

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        if self.trusted(host):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await check_host(host, port, self.resolver, timeout)
        error: Exception | None = None
        for address in addresses:  # every one was checked; connect to the first that answers
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked(path, path, "is a local socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend under its connection pools (one per
    origin: :class:`~monitor.pools.PoolPerOrigin`)."""

    def __init__(self, *, trusted: Callable[[str], bool], resolver: Resolver = system_resolver,
                 verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None,
                 retries: int = 0) -> None:
        limits = limits or httpx.Limits()
        ssl_context = httpx.create_ssl_context(verify=verify) if not isinstance(verify, ssl.SSLContext) else verify
        super().__init__(verify=ssl_context, limits=limits, retries=retries)  # one context, loaded once
        backend = _GuardedBackend(httpcore.AnyIOBackend(), trusted, resolver)

        def pool() -> httpcore.AsyncConnectionPool:
            return httpcore.AsyncConnectionPool(
                ssl_context=ssl_context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                retries=retries,
                network_backend=backend,
            )

        self._pool = PoolPerOrigin(pool, expiry=limits.keepalive_expiry)  # type: ignore[assignment]


# ---------------------------------------------------------------------------- sites

_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


def site_of(host: str) -> str:
    """The site a host belongs to, roughly its registered domain (news.cgtn.com -> cgtn.com,
    www.bbc.co.uk -> bbc.co.uk). An address is its own site."""
    host = host.lower().rstrip(".")
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if _literal(host) is not None:
        return host
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])
