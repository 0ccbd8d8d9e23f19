"""Which elements are not article text: furniture tags and roles, hidden elements, boilerplate
class words, consent banners, captions and site-rule ``drop`` selectors.

The decisions are made on the layout's arrays, after the walk, because some need the size of a
subtree ("a `tags` box is boilerplate when it is small or mostly links"). Nothing is removed from
the tree; dropped elements are skipped by whatever reads the layout.
"""

from __future__ import annotations

import logging

from .layout import Flag, Layout
from .vocab import VOCAB, Kind

__all__ = ["Drops", "decide_drops", "find_consent_banners"]

log = logging.getLogger(__name__)

WRAPPER_TAGS = frozenset({"html", "body", "main"})
CONSENT_MAX_CHARS = 6000  # a banner says its piece in fewer characters than this
BANNER_MAX_CHARS = 3000  # climbing from an accept button stops at blocks longer than this
CAPTION_MAX_CHARS = 800
WEAK_MAX_CHARS = 300
WRAPPER_SHARE = 0.8  # an element holding this share of the page's unlinked text is never boilerplate


class Drops:
    """Per element: ``hard`` (never read: furniture, hidden, boilerplate, consent) and ``body``
    (``hard`` or a caption, which belongs in the captions list and never in the text); ``roots``
    are the outermost elements dropped from the body, ``captions`` the elements (with text, kept)
    whose class or id says caption or credit, both in document order."""

    __slots__ = ("body", "captions", "consent", "hard", "roots")

    def __init__(self, hard: list[bool], body: list[bool], consent: list[int], roots: list[int],
                 captions: list[int] | None = None) -> None:
        self.hard = hard
        self.body = body
        self.consent = consent
        self.roots = roots
        self.captions = captions or []


def find_consent_banners(lay: Layout) -> list[int]:
    """Elements that are cookie/consent banners, found by what they say: consent wording in the
    smallest block around an accept/agree button. Works whatever the class names say, in the
    languages of ``boilerplate.yaml``."""
    buttons = VOCAB.consent_buttons
    found: list[int] = []
    starts: list[int] = []
    for i in lay.clickables:
        if lay.text_len(i) <= 40:
            label = lay.text(i).lower().strip(" .!»›→✓×")
            if label in buttons:
                starts.append(i)
    starts.extend(i for i, value in lay.buttons if value.lower().strip(" .!") in buttons)
    done: set[int] = set()
    for start in starts:
        banner = _climb(lay, start, done)
        if banner is not None and banner not in done:
            found.append(banner)
            done.add(banner)
    return found


def _climb(lay: Layout, start: int, done: set[int]) -> int | None:
    best: int | None = None
    best_len = 0
    j = lay.parent[start]
    while j > 0 and lay.tags[j] not in WRAPPER_TAGS:
        if j in done:
            return None
        size = lay.text_len(j)
        if size > BANNER_MAX_CHARS or (best is not None and size > best_len + 250):
            break
        if best is None and VOCAB.consent_words.search(lay.text(j).lower()):
            best, best_len = j, size
        elif best is not None:
            best = j
        j = lay.parent[j]
    return best


_HEADING_TRIM = " .:…»›>→-–—|#*!?()[]"


def find_related_boxes(lay: Layout) -> list[int]:
    """Boxes of links to other stories, found by their heading ("Related stories", "Leia também"):
    the parent of a heading that says so and comes first in it."""
    found: list[int] = []
    page = lay.text_len(0) - lay.link_len(0) if len(lay) else 0
    for i in lay.headings:
        if lay.text_len(i) > 60:
            continue
        label = lay.text(i).lower().strip(_HEADING_TRIM)
        if label not in VOCAB.related_headings:
            continue
        box = lay.parent[i]
        if box <= 0 or lay.tags[box] in WRAPPER_TAGS or lay.seq[box] != lay.seq[i]:
            continue  # the heading must open its box
        if lay.text_len(box) - lay.link_len(box) > WRAPPER_SHARE * page:
            continue
        found.append(box)
    return found


def decide_drops(lay: Layout, banners: list[int] | None = None, boxes: list[int] | None = None) -> Drops:
    """Decide, element by element, what is dropped; children inherit their parent's decision (a
    dropped subtree is marked at once and not visited). ``banners`` (consent banners found by their
    text) and ``boxes`` (related-links boxes) are dropped too."""
    n = len(lay)
    hard = [False] * n
    body = [False] * n
    consent: list[int] = []
    roots: list[int] = []
    captions: list[int] = []
    forced = set(banners or ()) | set(boxes or ())
    page_text = max(lay.text_len(0) - lay.link_len(0), 1) if n else 1
    parent, tags, flags, kinds = lay.parent, lay.tags, lay.flag, lay.kind
    seq, stop, cum, end = lay.seq, lay.stop, lay.cum, lay.end
    skip_or_hidden, prune, figure = Flag.SKIP | Flag.HIDDEN, Flag.PRUNE, Flag.CAPTION_TAG | Flag.FIGURE
    i = 0
    while i < n:
        p = parent[i]
        inherited = p >= 0 and body[p]
        flag = flags[i]
        size = cum[stop[i]] - cum[seq[i]]
        if not size and not flag & skip_or_hidden:
            body[i] = inherited  # no text: nothing to decide
            i += 1
            continue
        tag = tags[i]
        # an element without text changes no text: its class is not even read; nor is a link's
        # (links are judged by the blocks around them)
        kind = kinds[i]
        if kind and (tag == "a" or not (size or flag & prune)):
            kind = 0
        elif kind < 0:
            kind = lay.kind_of(i)
        drop = caption = False
        if i in forced:
            drop = True
        elif flag & skip_or_hidden and tag not in WRAPPER_TAGS:
            drop = not (flag & Flag.HIDDEN and tag == "article" and size > 2000)
            if kind & Kind.CONSENT:
                consent.append(i)  # a consent dialog: dropped as a dialog, counted as consent
        elif kind and tag not in WRAPPER_TAGS:
            drop, caption = _by_class(lay, i, kind, page_text)
            if drop and kind & Kind.CONSENT:
                consent.append(i)
            elif caption:
                captions.append(i)
        if drop:
            e = end[i]
            hard[i:e] = body[i:e] = [True] * (e - i)
            if not inherited:
                roots.append(i)
            i = e
            continue
        if not caption and flag & figure and size <= CAPTION_MAX_CHARS * 2:
            caption = True
        if caption and not inherited:
            roots.append(i)
        body[i] = caption or inherited
        i += 1
    for i in banners or ():
        if not any(lay.contains(c, i) or lay.contains(i, c) for c in consent):
            consent.append(i)
    return Drops(hard, body, consent, roots, captions)


def _by_class(lay: Layout, i: int, kind: int, page_text: int) -> tuple[bool, bool]:
    """(drop, is a caption) for an element whose class or id names something."""
    size = lay.text_len(i)
    if kind & Kind.CONSENT and size < CONSENT_MAX_CHARS:
        return True, False
    content = bool(kind & Kind.CONTENT)
    links = lay.link_len(i)
    # a wrapper whose class merely mentions a sidebar, a slider or comments still holds the page
    wrapper = size - links > WRAPPER_SHARE * page_text
    if kind & Kind.STRONG_BOILER:
        if wrapper or (content and size - links > 0.3 * page_text):
            return False, False
        return True, False
    if kind & Kind.WEAK_BOILER and not content and not wrapper:
        if size < WEAK_MAX_CHARS or links > 0.5 * size:
            return True, False
    if kind & (Kind.CAPTION | Kind.CREDIT) and size <= CAPTION_MAX_CHARS:
        return False, True
    return False, False
