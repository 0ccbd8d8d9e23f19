"""Connections kept per origin: one small httpcore pool for each scheme, host and port.

httpcore's pool looks over every connection it holds each time a request starts or ends (is it
closed, has it expired, is its socket readable: a ``poll`` per idle socket). One pool for a run
over many hosts therefore pays for every host on every request, about 4% of a bulk run's CPU
with twenty hosts. Here each origin has its own pool, so a request looks only at its own host's
connections, and a pool whose connections have all been idle longer than the keep-alive expiry
is closed and forgotten (looked for at most once per expiry), so a daemon that visits thousands
of hosts does not keep their sockets open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

import httpcore

__all__ = ["PoolPerOrigin"]

Origin = tuple[bytes, bytes, int | None]


class PoolPerOrigin:
    """Hands each request to its origin's pool, made by ``make`` when first needed (what httpx's
    transport asks of its pool: ``handle_async_request``, ``aclose`` and ``async with``)."""

    def __init__(self, make: Callable[[], httpcore.AsyncConnectionPool], *, expiry: float | None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._make = make
        self._expiry = expiry if expiry is not None else 5.0
        self._monotonic = monotonic
        self._pools: dict[Origin, httpcore.AsyncConnectionPool] = {}
        self._used: dict[Origin, float] = {}
        self._swept = monotonic()

    def __len__(self) -> int:
        return len(self._pools)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = self._make()
        now = self._monotonic()
        self._used[origin] = now
        if now - self._swept > self._expiry:
            self._swept = now
            await self.sweep(now)
        return await pool.handle_async_request(request)

    async def sweep(self, now: float | None = None) -> int:
        """Close the pools not used for longer than the expiry whose connections are all idle;
        returns how many were closed."""
        now = self._monotonic() if now is None else now
        closed = 0
        for origin, used in list(self._used.items()):
            pool = self._pools[origin]
            if now - used > self._expiry and all(c.is_idle() or c.is_closed() for c in pool.connections):
                del self._pools[origin], self._used[origin]
                await pool.aclose()
                closed += 1
        return closed

    async def aclose(self) -> None:
        pools, self._pools, self._used = list(self._pools.values()), {}, {}
        for pool in pools:
            await pool.aclose()

    async def __aenter__(self) -> PoolPerOrigin:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None = None, exc_value: BaseException | None = None,
                        traceback: TracebackType | None = None) -> None:
        await self.aclose()
