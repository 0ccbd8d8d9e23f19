"""Captions and images of the article.

Captions come from ``<figcaption>``, elements whose class or id says caption/credit/cutline, and
``data-caption`` attributes; each caption is kept once, however often the page repeats it (lightbox
copies are hidden and dropped; ``alt`` text and ``<noscript>`` copies are never read as captions).

A caption belongs to a photo (or other media) of the article. These are not captions, whatever
their markup says: a teaser's headline (a caption that is one link, or sits inside one), a widget's
title (a "caption" class above a box of images, or heading a box that holds far more than a photo),
a pull quote's attribution (the ``<figcaption>`` of a figure without media), a caption or credit
class away from any image, and a bare platform or agency word ("Facebook", "Photo: Instagram").

Images carry their source URL (lazy-loading attributes understood), alt text and caption; those of
teaser lists and widgets around the article (outside its body and lead) are left out unless they
have a caption of their own.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from urllib.parse import urljoin

from ..models import Image
from .clean import Drops
from .layout import Flag, Layout, squash
from .vocab import VOCAB, Kind

__all__ = ["collect_media"]

LAZY_SRC_ATTRS = ("data-src", "data-lazy-src", "data-original", "data-lazy", "data-url", "data-srcset",
                  "data-hi-res-src", "data-full-src", "src")
MAX_CAPTION_CHARS = 800
_TAG = re.compile(r"<[^>]{0,400}>")
_FILE_NAME = re.compile(r"[\w.-]+\.(?:jpe?g|png|gif|webp|avif|svg|tiff?|bmp)", re.I)
FIGURE_CLIMB = 4
ONE_LINK_SHARE = 0.8  # a "caption" one link holds this much of is a teaser headline or a gallery link
FIGURE_EXTRA_CHARS = 200  # a photo box holds its caption and little else (a credit, an "enlarge" link)
MEDIA_TAGS = frozenset({"img", "picture", "video", "audio", "iframe", "svg", "canvas", "object", "embed",
                        "noscript", "source", "amp-img", "amp-video", "amp-iframe"})
MEDIA_SCAN = 60  # elements of a figure (or of the box before a caption) looked at for its media
PLACEHOLDER_CHARS = 40  # text a figure may hold besides its caption while its image is not loaded
_CREDIT_TRIM = " :-–—|©()[]"


def collect_media(lay: Layout, drops: Drops, region: tuple[int, int], article: tuple[int, int],
                  url: str | None) -> tuple[list[str], list[Image]]:
    """(captions, images) of the elements numbered ``region`` (start, stop); ``article`` is the
    part of it that is the article itself (lead and body): uncaptioned images elsewhere are
    teasers' and widgets'."""
    captions: list[str] = []
    by_figure: dict[int, int] = {}  # figure element -> index in captions
    start, stop = region
    flags, attrs_of, hard = lay.flag, lay.attrs, drops.hard
    imgs = [i for i in _within(lay.images, start, stop) if not hard[i]]
    # figures, figcaptions and caption classes, in document order
    candidates = sorted({*_within(lay.figures, start, stop), *_within(drops.captions, start, stop)})
    skip_until = -1
    for i in candidates:
        if hard[i]:
            continue
        flag = flags[i]
        if flag & Flag.FIGURE and (value := attrs_of[i].get("data-caption")):
            text = _clean(value)
            if not _bare_credit(text):
                _add(captions, text, by_figure, i)
        if i >= skip_until and (flag & Flag.CAPTION_TAG or (
                not flag & Flag.FIGURE and lay.kind[i] & (Kind.CAPTION | Kind.CREDIT) and not _holds_image(lay, i))):
            skip_until = lay.end[i]
            figure = _caption_figure(lay, i, start)
            if figure >= 0:
                text = lay.spaced_text(i)  # caption and credit are separate elements: a space between
                if not _bare_credit(text):
                    _add(captions, text, by_figure, figure)
    images = []
    lead, end = article
    for i in imgs:
        attrs = attrs_of[i]
        src = _image_src(attrs)
        if not src or _is_pixel(attrs) or _in_boilerplate(lay, i, start):
            continue
        k = _caption_of(lay, i, start, by_figure)
        if k is None and not lead <= i < end:
            continue
        if url and not src.startswith(("https://", "http://")):
            src = urljoin(url, src)
        alt = squash(attrs.get("alt") or "")
        images.append(Image(src=src, alt=alt, caption=captions[k] if k is not None else ""))
    return captions, images


def _within(items: list[int], start: int, stop: int) -> list[int]:
    """The part of a sorted list of elements in ``[start, stop)``."""
    return items[bisect_left(items, start):bisect_left(items, stop)]


def _caption_figure(lay: Layout, i: int, start: int) -> int:
    """The figure (or photo box) that caption element ``i`` describes, or -1 when it is not the
    caption of a photo (see the module docstring)."""
    size = lay.text_len(i)
    if not size or size > MAX_CAPTION_CHARS or lay.in_link[i] or _one_link(lay, i, size):
        return -1
    if lay.flag[i] & Flag.CAPTION_TAG:
        figure = _enclosing_figure(lay, i, start)
        if figure < 0:
            return lay.parent[i]
        return figure if _media_figure(lay, figure, i) else -1
    before = _box_before(lay, i)
    if before >= 0:
        return before
    box = _image_box(lay, i, start)
    if box < 0 or lay.text_len(box) > size + max(size, FIGURE_EXTRA_CHARS):
        return -1
    # the photo comes first, or sits beside the caption; a "caption" above a box of images is its title
    if lay.parent[i] == box or any(lay.tags[j] == "img" for j in range(box, i)):
        return box
    return -1


def _one_link(lay: Layout, i: int, size: int) -> bool:
    """Most of the caption is a single link."""
    if lay.link_len(i) < ONE_LINK_SHARE * size:
        return False
    flags = lay.flag
    return any(flags[j] & Flag.LINK and lay.text_len(j) >= ONE_LINK_SHARE * size for j in range(i + 1, lay.end[i]))


def _box_before(lay: Layout, i: int) -> int:
    """The previous sibling of caption ``i`` when it is a photo or holds one ("next to the
    image": a caption line after a picture block in the body), else -1."""
    p = lay.parent[i]
    prev = i - 1
    if prev <= p:
        return -1
    while lay.parent[prev] != p:
        prev = lay.parent[prev]
    tags = lay.tags
    if any(tags[j] in MEDIA_TAGS for j in range(prev, min(lay.end[prev], prev + MEDIA_SCAN))):
        return prev
    return -1


def _bare_credit(text: str) -> bool:
    """A credit that is only a platform or agency word ("Facebook", "Getty Images"), with or
    without its label ("Photo:", "Credit")."""
    key = _key(text).strip(_CREDIT_TRIM)
    for label in VOCAB.credit_labels:
        if key.startswith(label):
            key = key[len(label):].strip(_CREDIT_TRIM)
            break
    return not key or key in VOCAB.bare_credits


def _enclosing_figure(lay: Layout, i: int, start: int) -> int:
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node < start or node < 0:
            break
        if lay.flag[node] & Flag.FIGURE:
            return node
        node = lay.parent[node]
    return -1


def _media_figure(lay: Layout, figure: int, caption: int) -> bool:
    """A figure of a photo or other media: it holds media, or nothing but its caption and an empty
    box (an image not loaded yet); not a pull quote with its attribution."""
    tags = lay.tags
    stop = min(lay.end[figure], figure + MEDIA_SCAN)
    if any(tags[j] in MEDIA_TAGS for j in range(figure + 1, stop)):
        return True
    if any(tags[j] == "blockquote" for j in range(figure + 1, stop)):
        return False
    return lay.text_len(figure) - lay.text_len(caption) <= PLACEHOLDER_CHARS


def _image_box(lay: Layout, i: int, start: int) -> int:
    """The nearest element around a caption or credit line that also holds an image, or -1."""
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node <= start:
            return -1
        if lay.flag[node] & Flag.FIGURE or any(lay.tags[j] == "img" for j in range(node, min(lay.end[node], node + 12))):
            return node
        node = lay.parent[node]
    return -1


def _holds_image(lay: Layout, i: int) -> bool:
    """A "has-caption" wrapper around the photo is the figure, not its caption."""
    return any(lay.tags[j] == "img" for j in range(i + 1, min(lay.end[i], i + 40)))


def _caption_of(lay: Layout, i: int, start: int, by_figure: dict[int, int]) -> int | None:
    """The caption of the image itself (a caption right after it) or of the nearest enclosing
    element that has one."""
    node = i
    for _ in range(FIGURE_CLIMB + 1):
        if node < start:
            break
        if node in by_figure:
            return by_figure[node]
        node = lay.parent[node]
    return None


def _in_boilerplate(lay: Layout, i: int, start: int) -> bool:
    """An image in an ad slot or a share bar (empty boxes: the text pass never judged them)."""
    node = lay.parent[i]
    for _ in range(FIGURE_CLIMB):
        if node <= start:
            return False
        if lay.kind_of(node) & Kind.STRONG_BOILER:
            return True
        node = lay.parent[node]
    return False


def _key(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(" .")


def _clean(value: str) -> str:
    """A data-caption attribute's text (some sites put markup in it)."""
    return squash(_TAG.sub(" ", value)) if "<" in value else squash(value)


def _plausible(text: str) -> bool:
    return bool(text) and len(text) <= MAX_CAPTION_CHARS and any(c.isalpha() for c in text) \
        and not _FILE_NAME.fullmatch(text)


def _add(captions: list[str], text: str, by_figure: dict[int, int], figure: int) -> None:
    """Add a caption once: one that starts or ends another, or is most of it (a copy with its
    credit appended, or the credit alone) is the same caption, and the longer text wins. A short
    caption in the middle of a longer one is a caption of its own ("2012" is not "Another slide
    from 2012 website")."""
    if not _plausible(text):
        return
    key = _key(text)
    for k, existing in enumerate(captions):
        old = _key(existing)
        short, long = (key, old) if len(key) <= len(old) else (old, key)
        if short in long and (len(short) * 2 >= len(long) or long.startswith(short) or long.endswith(short)):
            if len(key) > len(old):
                captions[k] = text
            by_figure.setdefault(figure, k)
            return
    captions.append(text)
    by_figure.setdefault(figure, len(captions) - 1)


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


def _is_pixel(attrs: dict[str, str | None]) -> bool:
    for name in ("width", "height"):
        value = attrs.get(name)
        if value and value.isdigit() and int(value) <= 2:
            return True
    return False
