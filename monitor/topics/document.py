"""The text a topic is matched against, and its words with their places.

A :class:`Document` is cut once into *segments* (the title, each paragraph of the text, each caption,
the byline, the source name, the URL), each segment into sentences and words. A word's place is its
index in :attr:`Tokens.words`; a phrase or a ``NEAR`` never spans two segments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .words import WORD_RE, sentence_spans

if TYPE_CHECKING:
    from ..models import Article

__all__ = ["DEFAULT_FIELDS", "FIELDS", "Document", "Segment", "Tokens", "field_mask"]

FIELDS: tuple[str, ...] = ("title", "text", "captions", "byline", "source", "url")
DEFAULT_FIELDS: tuple[str, ...] = ("title", "text", "captions")
FIELD_BIT: dict[str, int] = {name: 1 << i for i, name in enumerate(FIELDS)}
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


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
    first_sentence: int  # index of its first sentence in Tokens.sentences


class Tokens:
    """A document cut into words. Parallel lists, one entry per word, for speed."""

    __slots__ = ("bit", "document", "end", "seg", "segments", "sent", "sentences", "start", "words")

    def __init__(self, doc: Document) -> None:
        self.document = doc
        self.words: list[str] = []
        self.start: list[int] = []  # character offsets in the segment's text
        self.end: list[int] = []
        self.seg: list[int] = []
        self.sent: list[int] = []
        self.bit: list[int] = []
        self.segments: list[Segment] = []
        self.sentences: list[tuple[int, int, int]] = []  # (segment, start, end)
        self._add("title", doc.title)
        for paragraph in _PARAGRAPH_BREAK.split(doc.text):
            self._add("text", paragraph)
        for caption in doc.captions:
            self._add("captions", caption)
        self._add("byline", doc.byline)
        self._add("source", doc.source)
        self._add("url", doc.url)

    def _add(self, field: str, text: str) -> None:
        if not text or not text.strip():
            return
        seg_no = len(self.segments)
        first_word, first_sentence = len(self.words), len(self.sentences)
        spans = sentence_spans(text) if field != "url" else [(0, len(text))]
        starts = [s for s, _ in spans]
        self.sentences.extend((seg_no, s, e) for s, e in spans)
        found = list(WORD_RE.finditer(text))
        self.words.extend([m.group() for m in found])
        offsets = [m.start() for m in found]
        self.start.extend(offsets)
        self.end.extend([m.end() for m in found])
        self.seg.extend([seg_no] * len(found))
        self.bit.extend([FIELD_BIT[field]] * len(found))
        sent, k, last = self.sent, 0, len(starts) - 1
        for offset in offsets:  # words and sentences both run left to right
            while k < last and starts[k + 1] <= offset:
                k += 1
            sent.append(first_sentence + k)
        self.segments.append(Segment(field, text, first_word, len(self.words), first_sentence))

    def surface(self, first: int, last: int) -> str:
        """The text from word ``first`` to word ``last`` (inclusive), as written."""
        seg = self.segments[self.seg[first]]
        return seg.text[self.start[first]: self.end[last]]
