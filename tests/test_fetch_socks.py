"""SOCKS5 proxies (``socks5://``, ``socks5h://``) through a real one: pproxy on 127.0.0.1.

The proxy's verbose log names every connection it makes, so the tests see that the request went
through it (and, for the address guard, that it never did)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config import FetchConfig, SourceConfig
from monitor.errors import FetchError
from monitor.fetch import Fetcher
from monitor.models import Page

from .faults import FaultServer

pytest.importorskip("pproxy")
pytest.importorskip("socksio")


# pproxy's main() takes the loop of asyncio.get_event_loop() and prefers uvloop when it is
# installed, whose policy has no loop to give: run it on a plain asyncio loop set beforehand.
_RUN_PPROXY = """
import asyncio, sys
sys.modules["uvloop"] = None
asyncio.set_event_loop(asyncio.new_event_loop())
from pproxy.server import main
sys.argv[0] = "pproxy"
main()
"""


class Socks:
    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "pproxy.log"
        self._out = self.log.open("w")
        # port 0: the proxy takes a free port and names it in its first log line (no race for a port)
        self.proc = subprocess.Popen([sys.executable, "-c", _RUN_PPROXY, "-l", "socks5://127.0.0.1:0", "-v"],
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})  # its log lines as they happen
        deadline = time.monotonic() + 15
        while True:
            serving = re.search(r"Serving on .*?127\.0\.0\.1:(\d+)", self.log.read_text())
            if serving:
                self.port = int(serving.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pproxy did not start: {self.log.read_text()}")
            time.sleep(0.05)

    def url(self, scheme: str = "socks5") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def said(self) -> str:
        self._out.flush()
        time.sleep(0.1)  # its log line is written as the connection opens, from another process
        return self.log.read_text()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self._out.close()


@pytest.fixture
def socks(tmp_path: Path) -> Iterator[Socks]:
    proxy = Socks(tmp_path)
    yield proxy
    proxy.stop()


def fetch(url: str, source: SourceConfig, trusted: set[str]) -> Page:
    f = Fetcher(FetchConfig(per_host_delay=0, retries=0), trusted_hosts=trusted)

    async def go() -> Page:
        async with f:
            return await f.fetch(url, source=source)
    return asyncio.run(go())


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_a_socks_proxy_carries_the_requests(socks: Socks, scheme: str) -> None:
    target = FaultServer("127.0.0.2")
    try:
        target.page("/article", "<p>through SOCKS</p>")
        source = SourceConfig(name="s", url=target.url + "/article", proxy=socks.url(scheme))
        page = fetch(target.url + "/article", source, {target.host})
        assert "through SOCKS" in page.text and page.status == 200
        assert {s.path for s in target.seen} == {"/robots.txt", "/article"}
    finally:
        target.stop()
    assert target.netloc in socks.said()  # the proxy made the connections


def test_a_socks_proxy_does_not_open_the_guard(socks: Socks) -> None:
    unnamed = FaultServer("127.0.0.3")
    try:
        unnamed.page("/x", "<p>private</p>")
        source = SourceConfig(name="s", url="http://127.0.0.4/", proxy=socks.url("socks5h"))
        with pytest.raises(FetchError) as info:
            fetch(unnamed.url + "/x", source, set())
    finally:
        unnamed.stop()
    assert info.value.outcome == "blocked_address" and unnamed.hits() == 0
    assert unnamed.netloc not in socks.said()


def test_a_socks_proxy_that_is_down_is_a_connection_error(socks: Socks) -> None:
    target = FaultServer("127.0.0.2")
    socks.stop()
    try:
        target.page("/article", "<p>direct</p>")
        source = SourceConfig(name="s", url=target.url + "/article", proxy=socks.url())
        with pytest.raises(FetchError) as info:
            fetch(target.url + "/article", source, {target.host})
    finally:
        target.stop()
    assert info.value.outcome == "connection_error" and target.hits() == 0  # never straight to the site
    socks.proc = subprocess.Popen(["true"])  # the fixture stops it again
    socks._out = socks.log.open("a")
