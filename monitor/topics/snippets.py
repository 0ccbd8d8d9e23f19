"""Snippets: the sentences around a topic's hits, with the hits marked ``**like this**``.

Markdown bold was chosen over guillemets because « » are ordinary quotation marks in French, Russian
and other news languages; ``plain()`` removes the markers. At most :data:`MAX_SNIPPETS` snippets per
match, those with the most hits, in document order; each at most about :data:`SNIPPET_WIDTH` characters,
cut at word boundaries with an ellipsis.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from .document import Tokens
from .scan import Span

__all__ = ["MARK_CLOSE", "MARK_OPEN", "MAX_SNIPPETS", "SNIPPET_WIDTH", "build_snippets", "plain"]

MARK_OPEN = "**"
MARK_CLOSE = "**"
MAX_SNIPPETS = 3
SNIPPET_WIDTH = 280
ELLIPSIS = "…"


def plain(snippet: str) -> str:
    """A snippet without its hit markers."""
    return snippet.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def build_snippets(tokens: Tokens, hits: list[Span], marks: list[Span], limit: int = MAX_SNIPPETS,
                   width: int = SNIPPET_WIDTH) -> tuple[str, ...]:
    """Snippets for the merged ``hits`` of a match, marking the word spans in ``marks``."""
    hits = sorted(hits)
    ends = tokens.sentences_of([w for hit in hits for w in hit])  # first, last of each hit
    windows: list[list[int]] = []  # [first sentence, last sentence, number of marks]
    for k in range(0, len(ends), 2):
        a, b = ends[k], ends[k + 1]
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b, 0])
    # sentence numbers grow with word places: the marks of a window are a run of the sorted marks
    marks = sorted(marks)
    mark_sentences = tokens.sentences_of([first for first, _ in marks])
    for window in windows:
        window[2] = bisect_right(mark_sentences, window[1]) - bisect_left(mark_sentences, window[0])
    best = sorted(windows, key=lambda w: (-w[2], w[0]))[:limit]
    out: list[str] = []
    for a, b, _ in sorted(best):
        inside = tuple(marks[bisect_left(mark_sentences, a): bisect_right(mark_sentences, b)])
        key = (a, b, width, inside)
        made = tokens.rendered.get(key)
        if made is None:  # another topic with the same hits and marks in these sentences made it already
            made = tokens.rendered[key] = _render(tokens, a, b, inside, width)
        out.append(made)
    return tuple(out)


def _render(tokens: Tokens, first_sentence: int, last_sentence: int, marks: Sequence[Span], width: int) -> str:
    """The sentences from ``first_sentence`` to ``last_sentence`` (one segment) with ``marks`` (sorted,
    all in those sentences) marked, cut to about ``width`` characters around them."""
    seg_no, lo, _ = tokens.sentence(first_sentence)
    hi = tokens.sentence(last_sentence)[2]
    low, top = lo, hi  # the sentences' bounds: an ellipsis where the snippet is cut inside them
    text = tokens.segments[seg_no].text
    chars = _char_marks(tokens, text, marks)
    if hi - lo > width and chars:
        lo, hi = _trim(text, lo, hi, chars, width)
    chars = [(a, b) for a, b in chars if a >= lo and b <= hi]
    out, pos = [], lo
    for a, b in chars:
        out += [text[pos:a], MARK_OPEN, text[a:b], MARK_CLOSE]
        pos = b
    out.append(text[pos:hi])
    body = " ".join("".join(out).split())  # runs of spaces as one, none at the ends
    if lo > low:
        body = ELLIPSIS + " " + body
    if hi < top:
        body = body + " " + ELLIPSIS
    return body


def _char_marks(tokens: Tokens, text: str, marks: Sequence[Span]) -> list[tuple[int, int]]:
    """Character ranges to mark; marks with only spaces between them become one (**Japan trip**)."""
    out: list[tuple[int, int]] = []
    for first, last in marks:
        a, b = tokens.start(first), tokens.end(last)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        elif out and not text[out[-1][1]:a].strip():
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _trim(text: str, lo: int, hi: int, chars: list[tuple[int, int]], width: int) -> tuple[int, int]:
    """A window of about ``width`` characters around the marks, cut at spaces."""
    first, last = chars[0][0], chars[-1][1]
    if last - first > width:  # the marks alone are too wide: keep the first ones
        last = max(b for a, b in chars if b - first <= width) if chars[0][1] - first <= width else chars[0][1]
    spare = max(width - (last - first), 0)
    start = max(lo, first - spare // 3)
    end = min(hi, last + (spare - (first - start)))
    start = max(lo, min(start, end - width))
    if start > lo:
        cut = text.find(" ", start, first)
        start = cut + 1 if cut >= 0 else start
    if end < hi:
        cut = text.rfind(" ", last, end)
        end = cut if cut >= 0 else end
    return start, end
