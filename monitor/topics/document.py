"""The text a topic is matched against, and its words with their places.

A :class:`Document` is cut once into *segments* (the title, each paragraph of the text, each caption,
the byline, the source name, the URL), each segment into sentences and words. A word's place is its
index in :attr:`Tokens.words`; a phrase or a ``NEAR`` never spans two segments.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import add
from typing import TYPE_CHECKING

from .words import WORD_RE, sentence_spans

if TYPE_CHECKING:
    from ..models import Article

__all__ = ["DEFAULT_FIELDS", "FIELDS", "Document", "Segment", "Tokens", "field_mask"]

FIELDS: tuple[str, ...] = ("title", "text", "captions", "byline", "source", "url")
DEFAULT_FIELDS: tuple[str, ...] = ("title", "text", "captions")
FIELD_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(FIELDS)}
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_MATCH_START = re.Match.start


def field_mask(fields: Sequence[str]) -> int:
    mask = 0
    for name in fields:
        mask |= FIELD_BIT[name]
    return mask


@dataclass(frozen=True)
class Document:
    """What a topic query looks at. ``lang`` None means unknown (passes every ``lang`` filter)."""

    title: str
    text: str
    captions: Sequence[str] = ()
    byline: str = ""
    source: str = ""
    url: str = ""
    lang: str | None = None

    @classmethod
    def from_article(cls, article: Article, source: str = "") -> Document:
        return cls(title=article.title, text=article.text, captions=tuple(article.captions),
                   byline=article.byline, source=source, url=article.url or "", lang=article.lang)


@dataclass(frozen=True, slots=True)
class Segment:
    field: str
    text: str
    first_word: int  # index of its first word in Tokens.words
    end_word: int  # one past its last word


SENTENCE_STRIDE = 1 << 32  # a sentence's number: its segment's number * SENTENCE_STRIDE + its place there


class Tokens:
    """A document cut into words. Parallel lists, one entry per word, for speed.

    ``words``, ``seg`` and ``bit`` are made at once (matching needs them). The words' character
    offsets (:meth:`start`, :meth:`end`, :meth:`offsets`) and sentences (:meth:`sentence_of`,
    :meth:`sentence`) are worked out one segment at a time, the first time a word of that segment is
    asked about: snippets, regex leaves and explain need them, for the segments with hits, and most
    articles match no topic. A sentence's number orders sentences as the document does and is
    consecutive within a segment (see :data:`SENTENCE_STRIDE`). ``rendered`` keeps the snippets
    already made from this document (topics that hit the same words share them)."""

    __slots__ = ("_parts", "bit", "document", "rendered", "seg", "segments", "words")

    def __init__(self, doc: Document) -> None:
        self.document = doc
        self.words: list[str] = []
        self.seg: list[int] = []
        self.bit: list[int] = []
        self.segments: list[Segment] = []
        self._add("title", doc.title)
        for paragraph in _PARAGRAPH_BREAK.split(doc.text):
            self._add("text", paragraph)
        for caption in doc.captions:
            self._add("captions", caption)
        self._add("byline", doc.byline)
        self._add("source", doc.source)
        self._add("url", doc.url)
        self._parts = _Parts(self.words, self.segments)
        self.rendered: dict[tuple[object, ...], str] = {}

    def _add(self, field: str, text: str) -> None:
        if not text or not text.strip():
            return
        found = WORD_RE.findall(text)
        first_word = len(self.words)
        self.words += found
        self.seg += [len(self.segments)] * len(found)
        self.bit += [FIELD_BIT[field]] * len(found)
        self.segments.append(Segment(field, text, first_word, len(self.words)))

    def offsets(self, seg_no: int) -> tuple[list[int], list[int]]:
        """Start and end characters of the words of segment ``seg_no`` (in its text)."""
        return self._parts.offsets(seg_no)

    def start(self, i: int) -> int:
        """Where word ``i`` starts in its segment's text."""
        seg_no = self.seg[i]
        return self._parts.starts(seg_no)[i - self.segments[seg_no].first_word]

    def end(self, i: int) -> int:
        """Where word ``i`` ends in its segment's text."""
        return self.start(i) + len(self.words[i])

    def sentence_of(self, i: int) -> int:
        """The number of the sentence word ``i`` is in."""
        seg_no = self.seg[i]
        return self._parts.sentences(seg_no)[1][i - self.segments[seg_no].first_word]

    def sentences_of(self, places: Iterable[int]) -> list[int]:
        """The sentence number of each word in ``places`` (quickest when they come in order)."""
        seg, segments, sentences = self.seg, self.segments, self._parts.sentences
        out: list[int] = []
        at, base, table = -1, 0, []
        for i in places:
            if seg[i] != at:
                at = seg[i]
                base, table = segments[at].first_word, sentences(at)[1]
            out.append(table[i - base])
        return out

    def sentence(self, number: int) -> tuple[int, int, int]:
        """Sentence ``number``: (segment, start character, end character). IndexError if there is none."""
        seg_no, k = divmod(number, SENTENCE_STRIDE)
        if not 0 <= seg_no < len(self.segments):
            raise IndexError(f"no sentence {number}")
        a, b = self._parts.sentences(seg_no)[0][k]
        return seg_no, a, b

    def surface(self, first: int, last: int) -> str:
        """The text from word ``first`` to word ``last`` (inclusive), as written."""
        seg = self.segments[self.seg[first]]
        return seg.text[self.start(first): self.end(last)]


class _Parts:
    """Offsets and sentences of a document's segments, worked out once each, when first asked for
    (it holds the word list and segments, never the Tokens: no reference cycle)."""

    __slots__ = ("_ends", "_sentences", "_starts", "segments", "words")

    def __init__(self, words: list[str], segments: list[Segment]) -> None:
        self.words, self.segments = words, segments
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        self._sentences: dict[int, tuple[list[tuple[int, int]], list[int]]] = {}

    def starts(self, seg_no: int) -> list[int]:
        found = self._starts.get(seg_no)
        if found is None:
            found = self._starts[seg_no] = list(map(_MATCH_START, WORD_RE.finditer(self.segments[seg_no].text)))
        return found

    def offsets(self, seg_no: int) -> tuple[list[int], list[int]]:
        start = self.starts(seg_no)
        end = self._ends.get(seg_no)
        if end is None:
            segment = self.segments[seg_no]
            end = self._ends[seg_no] = list(map(add, start, map(len, self.words[segment.first_word: segment.end_word])))
        return start, end

    def sentences(self, seg_no: int) -> tuple[list[tuple[int, int]], list[int]]:
        """The sentences of segment ``seg_no`` ((start, end) each) and each word's sentence number."""
        found = self._sentences.get(seg_no)
        if found is None:
            segment = self.segments[seg_no]
            spans = sentence_spans(segment.text) if segment.field != "url" else [(0, len(segment.text))]
            offsets = self.starts(seg_no)
            # a word belongs to the last sentence starting at or before it (the first, for words before it)
            base = seg_no * SENTENCE_STRIDE
            sent: list[int] = []
            lo = 0
            for k in range(1, len(spans)):
                cut = bisect_left(offsets, spans[k][0], lo)
                sent += [base + k - 1] * (cut - lo)
                lo = cut
            sent += [base + max(len(spans) - 1, 0)] * (len(offsets) - lo)
            found = self._sentences[seg_no] = (spans, sent)
        return found
