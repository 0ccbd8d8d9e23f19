"""The address guard: links and redirects may only lead to public addresses.

The rule is checked on the address actually connected to: the guarded network backend resolves
the host itself, refuses the connection when any address is not public, and connects to the
address it checked (so a second DNS answer cannot swap in another one). Hosts named in the config
are trusted; ``fetch.allow_private_networks`` turns the guard off.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["BLOCKED_NETWORKS", "AddressBlocked", "GuardedTransport", "is_public_address"]

Resolver = Callable[[str, int], Awaitable[list[str]]]

# Not public, whatever else they are (IANA special-purpose registries, plus cloud metadata).
BLOCKED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(n) for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA_HOSTS: frozenset[str] = frozenset({"metadata.google.internal", "metadata", "instance-data"})


class AddressBlocked(Exception):
    """A connection to a non-public address was refused. Not an httpx error on purpose: it must not
    be mistaken for a network failure and retried."""

    def __init__(self, host: str, address: str) -> None:
        self.host = host
        self.address = address
        super().__init__(f"{host} resolves to {address}, which is not a public address")


def is_public_address(address: str) -> bool:
    """True for a global unicast address; IPv4-mapped, 6to4 and NAT64 forms are judged by the IPv4
    address they carry."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in NAT64 else None)
        if embedded is not None:
            return is_public_address(str(embedded))
    if any(ip in net for net in BLOCKED_NETWORKS):
        return False
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


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
        if host.lower().rstrip(".") in METADATA_HOSTS:
            raise AddressBlocked(host, host)
        try:
            addresses = await asyncio.wait_for(self.resolver(host, port), timeout)
        except (OSError, TimeoutError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        for address in addresses:
            if not is_public_address(address):
                raise AddressBlocked(host, address)
        return await self.inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise AddressBlocked(path, "unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded network backend under its connection pool."""

    def __init__(self, *, trusted: Callable[[str], bool], resolver: Resolver = system_resolver,
                 verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None,
                 retries: int = 0) -> None:
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits, retries=retries)
        ssl_context = httpx.create_ssl_context(verify=verify) if not isinstance(verify, ssl.SSLContext) else verify
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_GuardedBackend(httpcore.AnyIOBackend(), trusted, resolver),
        )
