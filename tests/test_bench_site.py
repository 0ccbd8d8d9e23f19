"""The bench site's server (bench/_site.py) must not be what bench/pipeline.py measures.

Its listening sockets are made with proto 0, so asyncio does not turn Nagle's algorithm off on the
connections it accepts; with Nagle on, a body written after its headers waited for the client's
delayed ACK (about 40 ms on Linux) and one request at a time per host ran at ~25 a second.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
_site = pytest.importorskip("_site")


def test_accepted_connections_have_nagle_off_and_answer() -> None:
    async def main() -> tuple[list[int], bytes]:
        port, socks = _site.bind_hosts(["127.0.0.1"])
        nodelay: list[int] = []

        class Probe(_site._Http):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                sock = transport.get_extra_info("socket")
                nodelay.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(lambda: Probe({}), sock=socks[0])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /missing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await reader.readline()
            writer.close()
            await writer.wait_closed()
        finally:
            server.close()
            await server.wait_closed()
        return nodelay, status

    nodelay, status = asyncio.run(main())
    with socket.socket() as plain:
        assert plain.proto == 0  # why the server has to do it itself
    assert nodelay == [1]
    assert status.startswith(b"HTTP/1.1 404")
