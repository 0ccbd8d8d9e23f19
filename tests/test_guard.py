"""The address guard. The rules are tested on the addresses themselves, with resolution injected:
no test sends a packet to a private, metadata or public address. The connection-level guard is
tested with loopback servers the config does not name, which must see no request at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpcore
import pytest

from monitor.config import FetchConfig
from monitor.errors import FetchError
from monitor.fetch import Fetcher
from monitor.guard import AddressBlocked, blocked_name, check_host, is_public_address, site_of

from .faults import Fault, FaultServer

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "151.101.1.69", "2606:4700:4700::1111", "2a00:1450:4001:82a::200e",
    "[2001:4860:4860::8888]",
]
NOT_PUBLIC = {
    # IPv4
    "127.0.0.1": "loopback", "127.0.0.2": "loopback", "127.255.255.254": "loopback",
    "10.0.0.1": "private", "172.16.5.4": "private", "172.31.255.255": "private", "192.168.1.1": "private",
    "169.254.169.254": "link-local: AWS, GCP, Azure, OpenStack metadata", "169.254.170.2": "ECS task metadata",
    "100.100.100.200": "Alibaba metadata (shared address space)", "100.64.0.1": "CGNAT",
    "192.0.0.192": "Oracle Cloud metadata", "168.63.129.16": "Azure wire server",
    "0.0.0.0": "this host", "0.1.2.3": "this network", "224.0.0.1": "multicast", "239.255.255.250": "SSDP multicast",
    "240.0.0.1": "reserved", "255.255.255.255": "broadcast", "192.0.2.10": "documentation",
    "198.18.0.1": "benchmarking", "198.51.100.7": "documentation", "203.0.113.9": "documentation",
    "192.88.99.1": "6to4 relay anycast",
    # IPv6
    "::1": "loopback", "::": "unspecified", "fe80::1": "link-local", "fe80::1%eth0": "link-local with a zone",
    "fc00::1": "unique local", "fd00:ec2::254": "AWS IPv6 metadata", "fec0::1": "site-local",
    "ff02::1": "multicast", "2001:db8::1": "documentation", "100::1": "discard",
    # IPv6 forms carrying an IPv4 address
    "::ffff:127.0.0.1": "IPv4-mapped loopback", "::ffff:169.254.169.254": "IPv4-mapped metadata",
    "::ffff:7f00:1": "IPv4-mapped loopback, hex", "::ffff:10.1.2.3": "IPv4-mapped private",
    "::127.0.0.1": "IPv4-compatible loopback", "2002:7f00:1::": "6to4 of loopback",
    "2002:a9fe:a9fe::1": "6to4 of metadata", "2002:0808:0808::1": "6to4 of a public address (refused as a form)",
    "64:ff9b::7f00:1": "NAT64 of loopback", "64:ff9b::a9fe:a9fe": "NAT64 of metadata",
    "64:ff9b::808:808": "NAT64 of a public address (refused as a form)", "64:ff9b:1::a00:1": "local NAT64",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    # not addresses at all
    "": "empty", "localhost": "a name", "127.1": "shorthand is not an address here", "1.2.3.4.5": "garbage",
}


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(address.strip("[]"))


@pytest.mark.parametrize("address, why", NOT_PUBLIC.items())
def test_non_public_addresses_are_refused(address: str, why: str) -> None:
    assert not is_public_address(address), why


def resolver(table: dict[str, list[str]], calls: list[str] | None = None):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolve


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_check_host_judges_every_answer_with_resolution_injected() -> None:
    table = {"news.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
             "rebind.example": ["93.184.215.14", "10.0.0.5"],  # one bad answer among good ones is enough
             "metadata-alias.example": ["169.254.169.254"], "mapped.example": ["::ffff:192.168.0.1"],
             "empty.example": []}
    resolve = resolver(table)
    assert run(check_host("news.example", 443, resolve)) == table["news.example"]
    for host in ("rebind.example", "metadata-alias.example", "mapped.example"):
        with pytest.raises(AddressBlocked) as info:
            run(check_host(host, 80, resolve))
        assert host in str(info.value) and "not a public address" in str(info.value)
    for host in ("empty.example", "unknown.example"):
        with pytest.raises(httpcore.ConnectError, match="cannot resolve"):
            run(check_host(host, 80, resolve))


def test_literals_and_local_names_are_judged_without_a_lookup() -> None:
    calls: list[str] = []
    resolve = resolver({}, calls)
    assert run(check_host("93.184.215.14", 80, resolve)) == ["93.184.215.14"]
    assert run(check_host("[2606:4700:4700::1111]", 443, resolve)) == ["2606:4700:4700::1111"]
    for host in ("127.0.0.2", "[::1]", "169.254.169.254", "[::ffff:169.254.169.254]", "metadata.google.internal",
                 "METADATA.GOOGLE.INTERNAL.", "instance-data", "localhost", "api.localhost", "printer.local",
                 "db.internal", "router.lan"):
        with pytest.raises(AddressBlocked):
            run(check_host(host, 80, resolve))
    assert calls == []  # none of these was looked up
    assert blocked_name("metadata.goog") and not blocked_name("localhost.example.com")


def test_site_of() -> None:
    assert site_of("news.cgtn.com") == site_of("www.cgtn.com:443") == "cgtn.com"
    assert site_of("www.bbc.co.uk") == "bbc.co.uk" and site_of("bbc.co.uk") == "bbc.co.uk"
    assert site_of("127.0.0.1:8080") == "127.0.0.1" != site_of("127.0.0.2")
    assert site_of("[::1]:8080") == "[::1]"


# ---------------------------------------------------------------------------- on the wire (loopback)

@pytest.fixture
def named() -> Iterator[FaultServer]:
    with FaultServer("127.0.0.1") as server:
        yield server


@pytest.fixture
def unnamed() -> Iterator[FaultServer]:
    """A server on 127.0.0.2, which the config does not name: it must see no request."""
    with FaultServer("127.0.0.2") as server:
        server.page("/secret", "<h1>internal admin</h1>")
        yield server


def fetcher(named: FaultServer, **cfg: object) -> Fetcher:
    base: dict[str, object] = {"per_host_delay": 0, "timeout": 2, "retries": 0}
    return Fetcher(FetchConfig.model_validate({**base, **cfg}), trusted_hosts={named.host})


def fetch(f: Fetcher, url: str) -> FetchError:
    async def go() -> FetchError:
        async with f:
            with pytest.raises(FetchError) as info:
                await f.fetch(url)
            return info.value
    return asyncio.run(go())


def test_a_link_to_an_unnamed_loopback_host_is_refused_before_any_request(named: FaultServer,
                                                                           unnamed: FaultServer) -> None:
    err = fetch(fetcher(named), unnamed.url + "/secret")
    assert err.outcome == "blocked_address" and "127.0.0.2" in str(err)
    assert unnamed.hits() == 0  # not even robots.txt


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_from_a_named_host_to_an_unnamed_one_is_refused(named: FaultServer, unnamed: FaultServer,
                                                                   status: int) -> None:
    start = named.route("/moved", Fault(status, b"", {"location": unnamed.url + "/secret"}))
    err = fetch(fetcher(named), start)
    assert err.outcome == "blocked_address"
    assert named.hits("/moved") == 1 and unnamed.hits() == 0


def test_the_guard_holds_at_connect_time_too(named: FaultServer, unnamed: FaultServer) -> None:
    """With robots.txt off and the pre-check passed by a resolver that first says "public", the
    connection itself is refused: the backend resolves again and checks what it connects to."""
    answers = iter([["93.184.215.14"], ["127.0.0.2"]])  # a DNS rebinding: public first, loopback next

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    f = Fetcher(FetchConfig(per_host_delay=0, timeout=2, retries=0, respect_robots=False),
                trusted_hosts={named.host}, resolver=rebinding)
    err = fetch(f, f"http://rebind.test:{unnamed.port}/secret")
    assert err.outcome == "blocked_address" and "127.0.0.2" in str(err)
    assert unnamed.hits() == 0


def test_a_name_that_resolves_to_loopback_is_refused(named: FaultServer, unnamed: FaultServer) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.2"]

    f = Fetcher(FetchConfig(per_host_delay=0, timeout=2, retries=0), trusted_hosts={named.host}, resolver=resolve)
    err = fetch(f, f"http://innocent.test:{unnamed.port}/secret")
    assert err.outcome == "blocked_address" and unnamed.hits() == 0


def test_non_web_ports_of_unnamed_hosts_are_refused(named: FaultServer) -> None:
    calls: list[str] = []
    f = Fetcher(FetchConfig(per_host_delay=0, retries=0), trusted_hosts={named.host},
                resolver=resolver({}, calls))
    err = fetch(f, "http://mail.example:25/")
    assert err.outcome == "blocked_address" and "port 25" in str(err) and calls == []


def test_allow_private_networks_turns_the_guard_off(named: FaultServer, unnamed: FaultServer) -> None:
    """The control for the tests above: the unnamed server is reachable when the guard is off."""
    f = fetcher(named, allow_private_networks=True)

    async def go() -> str:
        async with f:
            return (await f.fetch(unnamed.url + "/secret")).text
    assert "internal admin" in asyncio.run(go())
    assert unnamed.hits("/secret") == 1


def test_named_hosts_are_trusted(named: FaultServer) -> None:
    url = named.page("/ok", "<p>fine</p>")

    async def go() -> str:
        async with fetcher(named) as f:
            return (await f.fetch(url)).outcome
    assert asyncio.run(go()) == "ok"
