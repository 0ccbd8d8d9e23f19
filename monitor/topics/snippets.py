"""Snippets: the sentences around a topic's hits, with the hits marked ``**like this**``.

Markdown bold was chosen over guillemets because « » are ordinary quotation marks in French, Russian
and other news languages; ``plain()`` removes the markers. At most :data:`MAX_SNIPPETS` snippets per
match, those with the most hits, in document order; each at most about :data:`SNIPPET_WIDTH` characters,
cut at word boundaries with an ellipsis.
"""

from __future__ import annotations

import re

from .document import Tokens
from .scan import Span

__all__ = ["MARK_CLOSE", "MARK_OPEN", "MAX_SNIPPETS", "SNIPPET_WIDTH", "build_snippets", "plain"]

MARK_OPEN = "**"
MARK_CLOSE = "**"
MAX_SNIPPETS = 3
SNIPPET_WIDTH = 280
ELLIPSIS = "…"
_SPACE = re.compile(r"\s+")


def plain(snippet: str) -> str:
    """A snippet without its hit markers."""
    return snippet.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")


def build_snippets(tokens: Tokens, hits: list[Span], marks: list[Span], limit: int = MAX_SNIPPETS,
                   width: int = SNIPPET_WIDTH) -> tuple[str, ...]:
    """Snippets for the merged ``hits`` of a match, marking the word spans in ``marks``."""
    windows: list[list[int]] = []  # [first sentence, last sentence, number of marks]
    for first, last in sorted(hits):
        a, b = tokens.sent[first], tokens.sent[last]
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b, 0])
    for first, _ in marks:
        s = tokens.sent[first]
        for window in windows:
            if window[0] <= s <= window[1]:
                window[2] += 1
                break
    best = sorted(windows, key=lambda w: (-w[2], w[0]))[:limit]
    return tuple(_render(tokens, w[0], w[1], marks, width) for w in sorted(best))


def _render(tokens: Tokens, first_sentence: int, last_sentence: int, marks: list[Span], width: int) -> str:
    seg_no, lo, _ = tokens.sentences[first_sentence]
    _, _, hi = tokens.sentences[last_sentence]
    text = tokens.segments[seg_no].text
    chars = _char_marks(tokens, seg_no, first_sentence, last_sentence, marks)
    if hi - lo > width and chars:
        lo, hi = _trim(text, lo, hi, chars, width)
    chars = [(a, b) for a, b in chars if a >= lo and b <= hi]
    out, pos = [], lo
    for a, b in chars:
        out += [text[pos:a], MARK_OPEN, text[a:b], MARK_CLOSE]
        pos = b
    out.append(text[pos:hi])
    body = _SPACE.sub(" ", "".join(out)).strip()
    if lo > tokens.sentences[first_sentence][1]:
        body = ELLIPSIS + " " + body
    if hi < tokens.sentences[last_sentence][2]:
        body = body + " " + ELLIPSIS
    return body


def _char_marks(tokens: Tokens, seg_no: int, first_sentence: int, last_sentence: int,
                marks: list[Span]) -> list[tuple[int, int]]:
    """Character ranges to mark; marks with only spaces between them become one (**Japan trip**)."""
    text = tokens.segments[seg_no].text
    out: list[tuple[int, int]] = []
    for first, last in sorted(marks):
        if tokens.seg[first] != seg_no or not first_sentence <= tokens.sent[first] <= last_sentence:
            continue
        a, b = tokens.start[first], tokens.end[last]
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
