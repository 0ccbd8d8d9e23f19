"""The near-duplicate index: which stored story does an unseen body belong to?

Two index-only lookups find *candidates*, never a scan of ``articles``:

- ``simhash_bands``: the body's 64-bit SimHash cut into 4 bands of 16 bits; a row per band keyed
  (band, article_id) WITHOUT ROWID and carrying the whole SimHash, so candidates further than
  :data:`CANDIDATE_MAX_BITS` are dropped without reading their article. Every copy within 3 bits
  shares a band (pigeonhole).
- ``paragraph_hashes``: one row per telling paragraph (80+ characters); a copy whose first
  paragraph was rewritten still shares the others exactly. A paragraph found in more than
  :data:`PARAGRAPH_COMMON` articles is a site's template, not evidence, and is set aside.

Each key returns a bounded number of rows, and at most :data:`MAX_VERIFY` candidates are read and
confirmed on their bodies (:func:`monitor.dedup.same_story`), after boilerplate and the template
paragraphs were stripped from both. An article whose text retention cleared is confirmed on what
the index keeps: a SimHash within 3 bits, or most of its paragraphs shared.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import dedup

__all__ = ["Fingerprint", "StoryIndex", "StoryMatch", "index_body"]

BANDS = 4
BAND_ROWS = 64  # rows read per band value
CANDIDATE_MAX_BITS = 12  # band candidates further than this are chance collisions (about 24 bits apart)
PARAGRAPH_COMMON = 20  # a paragraph stored in more articles than this is boilerplate
MAX_VERIFY = 10  # candidates read and compared per lookup


@dataclass(frozen=True, slots=True)
class StoryMatch:
    """Why an unseen body joins a stored story."""

    story_id: int
    article_id: int
    how: str  # exact | near | near-index (text cleared by retention: judged on the index alone)
    similarity: dedup.Similarity | None = None


@dataclass(slots=True)
class _Candidate:
    bits: int | None = None
    paragraphs: int = 0
    hinted: bool = False
    score: float = field(default=0.0)


def index_body(body: str) -> tuple[str, int, list[int]]:
    """What the index keeps of a body: the body without boilerplate, its SimHash and paragraph hashes."""
    stripped = dedup.strip_boilerplate(body)
    return stripped, dedup.simhash(stripped), dedup.paragraph_hashes(stripped)


class Fingerprint:
    """Everything dedup needs of one article's title and body, worked out once and before the write
    lock is taken: the content hash of title and body, the body without boilerplate
    (``stripped``), and that stripped body's SimHash and paragraph hashes (:func:`index_body`).

    :meth:`of` works them out; :meth:`Store.fingerprint <monitor.store.Store.fingerprint>` reads
    the SimHash and paragraph hashes of a stored exact copy instead (the same text has the same
    ones), and then ``stripped`` is only worked out if something asks for it."""

    __slots__ = ("_body", "_stripped", "content_hash", "para_hashes", "simhash")

    def __init__(self, content_hash: str, stripped: str | None, simhash: int, para_hashes: Sequence[int],
                 body: str = "") -> None:
        self.content_hash = content_hash
        self.simhash = simhash
        self.para_hashes = tuple(para_hashes)
        self._stripped = stripped
        self._body = body

    @property
    def stripped(self) -> str:
        if self._stripped is None:
            self._stripped = dedup.strip_boilerplate(self._body)
        return self._stripped

    @classmethod
    def of(cls, title: str, body: str) -> Fingerprint:
        chash, stripped, simhash, hashes = dedup.body_fingerprint(title, body)
        return cls(chash, stripped, simhash, hashes)

    def __repr__(self) -> str:
        return f"Fingerprint({self.content_hash[:12]}..., simhash={self.simhash}, {len(self.para_hashes)} paragraphs)"


class StoryIndex:
    """Maintains and queries the index tables on the store's connection (inside its transactions)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------------ maintenance
    def add(self, article_id: int, simhash: int, hashes: Sequence[int]) -> None:
        self.conn.executemany("INSERT OR IGNORE INTO simhash_bands (band, article_id, simhash) VALUES (?,?,?)",
                              [(b, article_id, simhash) for b in dedup.simhash_bands(simhash, BANDS)])
        self.conn.executemany("INSERT OR IGNORE INTO paragraph_hashes (hash, article_id) VALUES (?,?)",
                              [(h, article_id) for h in hashes])

    def remove(self, article_id: int, simhash: int | None, hashes: Sequence[int]) -> None:
        """Remove an article's rows by their keys (no scan: the keys come from the article row)."""
        if simhash is not None:
            self.conn.executemany("DELETE FROM simhash_bands WHERE band = ? AND article_id = ?",
                                  [(b, article_id) for b in dedup.simhash_bands(simhash, BANDS)])
        self.conn.executemany("DELETE FROM paragraph_hashes WHERE hash = ? AND article_id = ?",
                              [(h, article_id) for h in hashes])

    # ------------------------------------------------------------------ lookup
    def find(self, fp: Fingerprint, *, hints: tuple[int, ...] = ()) -> StoryMatch | None:
        """The story the body of ``fp`` belongs to, or None. ``hints`` are article ids worth checking
        too (the article a page names as its canonical on another site)."""
        row = self.conn.execute("SELECT story_id, id FROM articles WHERE content_hash = ? LIMIT 1",
                                [fp.content_hash]).fetchone()
        if row:
            return StoryMatch(int(row[0]), int(row[1]), "exact")
        stripped, simhash, hashes = fp.stripped, fp.simhash, fp.para_hashes
        if not stripped.strip():
            return None
        candidates: dict[int, _Candidate] = {}
        for band in dedup.simhash_bands(simhash, BANDS):
            for article_id, other in self.conn.execute(
                    "SELECT article_id, simhash FROM simhash_bands WHERE band = ? LIMIT ?", [band, BAND_ROWS]):
                bits = dedup.hamming(simhash, other)
                if bits <= CANDIDATE_MAX_BITS:
                    candidates.setdefault(article_id, _Candidate()).bits = bits
        common: set[int] = set()
        for h in hashes:
            ids = [r[0] for r in self.conn.execute("SELECT article_id FROM paragraph_hashes WHERE hash = ? LIMIT ?",
                                                   [h, PARAGRAPH_COMMON + 1])]
            if len(ids) > PARAGRAPH_COMMON:
                common.add(h)
                continue
            for article_id in ids:
                candidates.setdefault(article_id, _Candidate()).paragraphs += 1
        for article_id in hints:
            candidates.setdefault(article_id, _Candidate()).hinted = True
        if not candidates:
            return None
        for c in candidates.values():
            c.score = c.paragraphs + (4 if c.bits is not None and c.bits <= dedup.NEAR_DUP_MAX_BITS else 0) \
                + (2 if c.hinted else 0) + (1 if c.bits is not None else 0)
        ranked = sorted(candidates, key=lambda k: (-candidates[k].score, k))[:MAX_VERIFY]

        def is_common(paragraph: str) -> bool:
            return dedup.paragraph_hash(paragraph) in common

        mine = dedup.strip_boilerplate(stripped, is_common) if common else stripped
        best: StoryMatch | None = None
        for article_id in ranked:
            found = self._verify(article_id, candidates[article_id], mine, simhash, len(hashes), is_common)
            if found and (best is None or _rank(found) > _rank(best)):
                best = found
        return best

    def _verify(self, article_id: int, cand: _Candidate, mine: str, simhash: int, my_paragraphs: int,
                is_common: Callable[[str], bool]) -> StoryMatch | None:
        row = self.conn.execute("SELECT story_id, text, simhash, para_hashes FROM articles WHERE id = ?",
                                [article_id]).fetchone()
        if row is None or row[0] is None:
            return None
        story_id, text, other_hash, para_hashes = int(row[0]), row[1], row[2], row[3]
        if text:
            other = dedup.strip_boilerplate(text, is_common)
            sim = dedup.compare(mine, other)
            return StoryMatch(story_id, article_id, "near", sim) if dedup.same_story(sim) else None
        # text cleared by retention: judge on what the index keeps
        theirs = len((para_hashes or "").split())
        bits = dedup.hamming(simhash, other_hash or 0)
        shared_enough = cand.paragraphs >= max(2, (min(theirs, my_paragraphs) + 1) // 2)
        if bits <= dedup.NEAR_DUP_MAX_BITS or shared_enough:
            return StoryMatch(story_id, article_id, "near-index")
        return None


def _rank(m: StoryMatch) -> float:
    return m.similarity.containment if m.similarity is not None else 0.5
