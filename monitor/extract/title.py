"""The headline: JSON-LD ``headline``, OpenGraph/Twitter/Dublin Core titles, the ``<h1>``, then
``<title>``; a site-name segment ("... | CGTN", "CGTN - ...") is cut when the page names its site
or an ``<h1>`` shows the bare headline.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .meta import TITLE_KEYS, HeadMeta

__all__ = ["pick_title", "site_words"]

_SEPARATORS = re.compile(r"\s+[|\-–—·•»:~/]\s+|\s*[|｜_]\s*|\s+::\s+|\s*\[[^\]]{2,40}\]\s*$")


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).strip(" .")


def site_words(site: str | None, url: str | None) -> set[str]:
    out: set[str] = set()
    if site:
        out.add(_norm(site))
    if url:
        host = urlsplit(url).hostname or ""
        host = host.removeprefix("www.")
        if host:
            out.add(host)
            out.add(host.split(".")[0])
            if host.count(".") >= 1:
                out.add(".".join(host.split(".")[-2:]))
    return {w for w in out if w}


def _strip_site(title: str, site_words: set[str], h1s: list[str]) -> str:
    parts = [p for p in _SEPARATORS.split(title) if p and p.strip()]
    if len(parts) < 2:
        return title
    h1_keys = {_norm(h) for h in h1s}
    for part in parts:
        if _norm(part) in h1_keys and len(part.split()) >= 2:
            return part.strip()
    first, last = _norm(parts[0]), _norm(parts[-1])
    if any(last == w or last.replace(" ", "") == w.replace(" ", "") for w in site_words):
        return _SEPARATORS.split(title)[0].strip() if len(parts) == 2 else title[: title.rfind(parts[-1])].rstrip(
            " |-–—·•»:~/_｜[").strip()
    if any(first == w for w in site_words):
        return title[title.find(parts[1]):].strip()
    return title


def pick_title(head: HeadMeta, h1s: list[str], words: set[str]) -> str:
    """The headline; ``words`` are the site's names (:func:`site_words`)."""
    meta_title = head.ld.headline or head.first(TITLE_KEYS)
    if meta_title:
        return _strip_site(meta_title, words, h1s)
    if head.title_tag:
        stripped = _strip_site(head.title_tag, words, h1s)
        if stripped != head.title_tag or not h1s:
            return stripped
        key = _norm(head.title_tag)
        for h in h1s:
            if _norm(h) and _norm(h) in key:
                return h
        return head.title_tag
    return h1s[0] if h1s else ""
