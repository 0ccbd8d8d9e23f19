"""The bundled demo news site: a CGTN-style opinion section (listing, RSS, articles) and a second
outlet that syndicates one of them, served from ``monitor/demo/site`` with their real-world
base URLs rewritten to the loopback servers. ``phase = 2`` serves the edited version of the page
that changes between runs. Answers carry an ETag and honour If-None-Match."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from importlib import resources
from pathlib import Path
from typing import Any

from .httpd import Request, Response

__all__ = ["SITE_BASES", "DemoSite", "site_root"]

# Real-world bases the pages are written with -> which server stands in for them.
SITE_BASES = {"https://news.cgtn.com": "main", "https://www.cgtn.com": "main",
              "https://asiapolicywire.example": "outlet2"}
TYPES = {".html": "text/html; charset=utf-8", ".xml": "application/rss+xml; charset=utf-8",
         ".txt": "text/plain; charset=utf-8", ".json": "application/json"}


def site_root() -> Path:
    return Path(str(resources.files("monitor.demo") / "site"))


class DemoSite:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or site_root()
        self.manifest: dict[str, Any] = json.loads((self.root / "manifest.json").read_text("utf-8"))
        self.bases: dict[str, str] = {}  # "main"/"outlet2" -> http://127.0.0.x:port
        self.phase = 1

    def handler(self, server: str) -> Any:
        prefix = "" if server == "main" else "/outlet2"

        def handle(request: Request) -> Response:
            return self._serve(prefix, request)

        return handle

    def _serve(self, prefix: str, request: Request) -> Response:
        path = request.path
        if path in ("/opinions", "/opinions/"):
            path = "/opinions.html"
        rel = (prefix + path).lstrip("/")
        file = (self.root / rel).resolve()
        if self.root.resolve() not in file.parents or not file.is_file() or file.name == "manifest.json" \
                or file.name.endswith(".v2.html"):
            return Response(404, b"<h1>Not found</h1>", {"content-type": "text/html"})
        if self.phase >= 2:
            v2 = file.with_name(file.stem + ".v2" + file.suffix)
            if v2.is_file():
                file = v2
        body = self._rewrite(file.read_bytes())
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        headers = {"content-type": TYPES.get(file.suffix, mimetypes.guess_type(file.name)[0] or "text/plain"),
                   "etag": etag, "cache-control": "max-age=60"}
        if request.headers.get("if-none-match") == etag:
            return Response(304, b"", headers)
        return Response(200, body, headers)

    def _rewrite(self, body: bytes) -> bytes:
        for real, server in SITE_BASES.items():
            if server in self.bases:
                body = body.replace(real.encode(), self.bases[server].encode())
        return body

    def url(self, server: str, path: str) -> str:
        return self.bases[server] + path
