"""Captions and images of the article.

Captions come from ``<figcaption>``, elements whose class or id says caption/credit/cutline, and
``data-caption`` attributes; each caption is kept once, however often the page repeats it (lightbox
copies are hidden and dropped; ``alt`` text and ``<noscript>`` copies are never read as captions).
Images carry their source URL (lazy-loading attributes understood), alt text and caption.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from ..models import Image
from .clean import Drops
from .layout import Flag, Layout, squash
from .vocab import Kind

__all__ = ["collect_media"]

LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-srcset",
                  "data-hi-res-src", "data-full-src", "src")
MAX_CAPTION_CHARS = 800
_TAG = re.compile(r"<[^>]{0,400}>")
_FILE_NAME = re.compile(r"[\w.-]+\.(?:jpe?g|png|gif|webp|avif|svg|tiff?|bmp)", re.I)
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


def collect_media(lay: Layout, drops: Drops, region: tuple[int, int],
                  url: str | None) -> tuple[list[str], list[Image]]:
    """(captions, images) of the elements numbered ``region`` (start, stop)."""
    captions: list[str] = []
    by_figure: dict[int, int] = {}  # figure element -> index in captions
    scope, stop = region
    skip_until = -1
    imgs: list[int] = []
    i = scope
    while i < stop:
        if drops.hard[i]:
            i = lay.end[i]
            continue
        tag, flag = lay.tags[i], lay.flag[i]
        kind = lay.kind_of(i) if lay.kind[i] and i >= skip_until and lay.text_len(i) else 0
        if tag == "img":
            imgs.append(i)
        elif flag & Flag.FIGURE and (value := lay.attrs[i].get("data-caption")):
            _add(captions, _clean(value), by_figure, i)
        if i >= skip_until and (flag & Flag.CAPTION_TAG or (
                kind & (Kind.CAPTION | Kind.CREDIT) and not flag & Flag.FIGURE and not _holds_image(lay, i))):
            skip_until = lay.end[i]
            # a caption inside a link is a teaser's headline; a "caption" far from any image
            # is a widget title; a credit line counts only next to its photo
            if (lay.text_len(i) <= MAX_CAPTION_CHARS and not lay.in_link[i]
                    and (flag & Flag.CAPTION_TAG or _in_figure(lay, i, scope))):
                _add(captions, _caption_text(lay, i), by_figure, _figure_of(lay, i, scope))
        i += 1
    images = []
    for i in imgs:
        attrs = lay.attrs[i]
        src = _image_src(attrs)
        if not src or _is_pixel(attrs) or _in_boilerplate(lay, i, scope):
            continue
        if url:
            src = urljoin(url, src)
        alt = squash(attrs.get("alt") or "")
        k = _caption_of(lay, i, scope, by_figure)
        images.append(Image(src=src, alt=alt, caption=captions[k] if k is not None else ""))
    return captions, images


def _in_boilerplate(lay: Layout, i: int, scope: int) -> bool:
    """An image in an ad slot or a share bar (empty boxes: the text pass never judged them)."""
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node <= scope:
            return False
        if lay.kind_of(node) & Kind.STRONG_BOILER:
            return True
        node = lay.parent[node]
    return False


def _holds_image(lay: Layout, i: int) -> bool:
    """A "has-caption" wrapper around the photo is the figure, not its caption."""
    return any(lay.tags[j] == "img" for j in range(i + 1, min(lay.end[i], i + 40)))


def _caption_of(lay: Layout, i: int, scope: int, by_figure: dict[int, int]) -> int | None:
    """The caption of the nearest enclosing element that has one."""
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node < scope:
            break
        if node in by_figure:
            return by_figure[node]
        node = lay.parent[node]
    return None


def _clean(value: str) -> str:
    """A data-caption attribute's text (some sites put markup in it)."""
    return squash(_TAG.sub(" ", value)) if "<" in value else squash(value)


def _plausible(text: str) -> bool:
    return bool(text) and len(text) <= MAX_CAPTION_CHARS and any(c.isalpha() for c in text) \
        and not _FILE_NAME.fullmatch(text)


def _add(captions: list[str], text: str, by_figure: dict[int, int], figure: int) -> None:
    """Add a caption once: one that holds another (or is held by one) is the same caption, and the
    longer text wins."""
    if not _plausible(text):
        return
    key = _key(text)
    for k, existing in enumerate(captions):
        old = _key(existing)
        if key in old or old in key:
            if len(key) > len(old):
                captions[k] = text
            by_figure.setdefault(figure, k)
            return
    captions.append(text)
    by_figure.setdefault(figure, len(captions) - 1)


def _in_figure(lay: Layout, i: int, scope: int) -> bool:
    """A caption or credit line belongs to a photo: inside a figure, or next to an image."""
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node <= scope:
            return False
        if lay.flag[node] & Flag.FIGURE or any(lay.tags[j] == "img" for j in range(node, min(lay.end[node], node + 12))):
            return True
        node = lay.parent[node]
    return False


def _caption_text(lay: Layout, i: int) -> str:
    """A caption's text; its parts (caption, credit) are separate elements, so they get a space."""
    return lay.spaced_text(i)


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
