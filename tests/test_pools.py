"""One connection pool per origin (monitor/pools.py), with real loopback servers: connections are
reused per host, and the pools of hosts not visited for longer than the keep-alive expiry are
closed (a long-running daemon does not keep every site's socket open)."""

from __future__ import annotations

import asyncio

import httpx

from monitor.guard import GuardedTransport
from monitor.pools import PoolPerOrigin
from tests.faults import FaultServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_each_host_has_its_own_pool_and_idle_ones_are_closed() -> None:
    a, b = FaultServer("127.0.0.2"), FaultServer("127.0.0.3")
    clock = Clock()
    try:
        a.page("/x", "<p>a</p>")
        b.page("/y", "<p>b</p>")
        transport = GuardedTransport(trusted=lambda host: True)
        pools = transport._pool
        assert isinstance(pools, PoolPerOrigin)
        pools._monotonic = clock  # noqa: SLF001 - the clock of this test
        pools._swept = clock()

        async def go() -> tuple[int, int, int, int]:
            async with httpx.AsyncClient(transport=transport) as client:
                for _ in range(3):
                    assert (await client.get(a.url + "/x")).status_code == 200
                sockets = sum(len(p.connections) for p in pools._pools.values())  # noqa: SLF001
                assert (await client.get(b.url + "/y")).status_code == 200
                both = len(pools)
                clock.now += 2.0  # b was used just now; a some time ago
                assert (await client.get(b.url + "/y")).status_code == 200
                still = len(pools)
                clock.now += 4.0  # a: idle 6 s > the 5 s expiry; b: 4 s
                assert (await client.get(b.url + "/y")).status_code == 200
                return sockets, both, still, len(pools)

        sockets, both, still, after = asyncio.run(go())
    finally:
        a.stop()
        b.stop()
    assert sockets == 1  # a's three requests went over one kept-alive connection
    assert (both, still, after) == (2, 2, 1)


def test_a_pool_with_a_request_in_flight_is_kept() -> None:
    made: list[object] = []

    class Busy:
        connections = [type("C", (), {"is_idle": lambda self: False, "is_closed": lambda self: False})()]

        async def aclose(self) -> None:
            made.append("closed")

    clock = Clock()
    pools = PoolPerOrigin(lambda: Busy(), expiry=5.0, monotonic=clock)  # type: ignore[arg-type, return-value]
    pools._pools[(b"http", b"h", 80)] = Busy()  # type: ignore[assignment]  # noqa: SLF001
    pools._used[(b"http", b"h", 80)] = clock.now  # noqa: SLF001
    clock.now += 60
    assert asyncio.run(pools.sweep()) == 0 and len(pools) == 1 and made == []
