"""Captions and images of the article.

Captions come from ``<figcaption>``, elements whose class or id says caption/credit/cutline, and
``data-caption`` attributes; each caption is kept once, however often the page repeats it (lightbox
copies are hidden and dropped; ``alt`` text and ``<noscript>`` copies are never read as captions).
Images carry their source URL (lazy-loading attributes understood), alt text and caption.
"""

from __future__ import annotations

from urllib.parse import urljoin

from ..models import Image
from .clean import Drops
from .layout import Flag, Layout, squash
from .vocab import Kind

__all__ = ["collect_media"]

LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-srcset",
                  "data-hi-res-src", "data-full-src", "src")
MAX_CAPTION_CHARS = 800
FIGURE_CLIMB = 4


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .")


def _image_src(attrs: dict[str, str | None]) -> str | None:
    for name in LAZY_SRC_ATTRS:
        value = attrs.get(name)
        if not value:
            continue
        value = value.strip()
        if name.endswith("srcset"):
            value = value.split(",")[0].split()[0] if value.split() else ""
        if value and not value.startswith("data:"):
            return value
    srcset = attrs.get("srcset")
    if srcset and srcset.split():
        return srcset.split(",")[0].split()[0]
    return None


def collect_media(lay: Layout, drops: Drops, scope: int, url: str | None) -> tuple[list[str], list[Image]]:
    """(captions, images) inside element ``scope``."""
    captions: list[str] = []
    seen: set[str] = set()
    by_figure: dict[int, str] = {}
    stop = lay.end[scope]
    skip_until = -1
    imgs: list[int] = []
    for i in range(scope, stop):
        if drops.hard[i]:
            continue
        tag, flag = lay.tags[i], lay.flag[i]
        if tag == "img":
            imgs.append(i)
            continue
        if flag & Flag.FIGURE:
            value = lay.nodes[i].attributes.get("data-caption")
            if value:
                _add(captions, seen, squash(value), by_figure, i)
        if i < skip_until:
            continue
        if flag & Flag.CAPTION_TAG or (lay.kind[i] & Kind.CAPTION and lay.text_len(i) <= MAX_CAPTION_CHARS):
            text = lay.text(i)
            if text and len(text) <= MAX_CAPTION_CHARS:
                _add(captions, seen, text, by_figure, _figure_of(lay, i, scope))
            skip_until = lay.end[i]
    images = []
    for i in imgs:
        attrs = lay.nodes[i].attributes
        src = _image_src(attrs)
        if not src or _is_pixel(attrs):
            continue
        if url:
            src = urljoin(url, src)
        alt = " ".join((attrs.get("alt") or "").split())
        fig = _figure_of(lay, i, scope)
        images.append(Image(src=src, alt=alt, caption=by_figure.get(fig, "")))
    return captions, images


def _add(captions: list[str], seen: set[str], text: str, by_figure: dict[int, str], figure: int) -> None:
    if not text:
        return
    key = _key(text)
    if key in seen:
        by_figure.setdefault(figure, text)
        return
    # a caption that another one already holds (or that holds another one) is the same caption
    for k, existing in enumerate(captions):
        ek = _key(existing)
        if key in ek:
            by_figure.setdefault(figure, existing)
            seen.add(key)
            return
        if ek in key and figure in by_figure and by_figure[figure] == existing:
            captions[k] = text
            by_figure[figure] = text
            seen.add(key)
            return
    seen.add(key)
    captions.append(text)
    by_figure.setdefault(figure, text)


def _figure_of(lay: Layout, i: int, scope: int) -> int:
    """The figure an image or caption belongs to: the nearest <figure>/data-caption ancestor,
    else the nearest ancestor that also holds an image."""
    node = i
    for _ in range(FIGURE_CLIMB):
        if node <= scope:
            break
        if lay.flag[node] & Flag.FIGURE:
            return node
        node = lay.parent[node]
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node <= scope:
            break
        if any(lay.tags[j] == "img" for j in range(node, min(lay.end[node], node + 40))):
            return node
        node = lay.parent[node]
    return lay.parent[i]


def _is_pixel(attrs: dict[str, str | None]) -> bool:
    for name in ("width", "height"):
        value = attrs.get(name)
        if value and value.isdigit() and int(value) <= 2:
            return True
    return False
