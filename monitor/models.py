"""Records passed between the stages: discover -> fetch -> extract -> store -> match -> alert.

Each stage takes and returns these; none passes loose dicts. Times are timezone-aware datetimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "FETCH_OUTCOMES",
    "Article",
    "FetchOutcome",
    "Image",
    "Link",
    "Match",
    "Page",
    "SourceReport",
    "StoreResult",
]

FetchOutcome = Literal[
    "ok",
    "not_modified",
    "skipped_robots",
    "blocked_address",
    "too_large",
    "unsupported_type",
    "http_error",
    "timeout",
    "connection_error",
    "too_many_redirects",
    "consent_wall",
    "invalid_url",
]
FETCH_OUTCOMES: tuple[str, ...] = FetchOutcome.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Link:
    """A URL discovered on a feed, sitemap or listing page, with what the teaser said of it."""

    url: str
    source: str
    title: str | None = None
    published: datetime | None = None
    authors: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    via: str | None = None  # the feed/sitemap/listing URL it came from


@dataclass(frozen=True, slots=True)
class Page:
    """One HTTP response, decoded: what the fetch stage hands to discovery or extraction."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    content_type: str
    body: bytes
    text: str  # body decoded to valid Unicode
    encoding: str
    etag: str | None = None
    last_modified: str | None = None
    fetched_at: datetime | None = None
    outcome: str = "ok"


@dataclass(frozen=True, slots=True)
class Image:
    src: str
    alt: str = ""
    caption: str = ""


@dataclass(slots=True)
class Article:
    """What extraction makes of one page."""

    url: str | None = None
    title: str = ""
    byline: str = ""
    authors: list[str] = field(default_factory=list)
    published: datetime | None = None
    modified: datetime | None = None
    lang: str | None = None
    site_name: str | None = None
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    is_consent_wall: bool = False

    @property
    def text(self) -> str:
        """The body: paragraphs separated by a blank line."""
        return "\n\n".join(self.paragraphs)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 with their offset)."""
        out = asdict(self)
        out["text"] = self.text
        for key in ("published", "modified"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value else None
        return out


@dataclass(frozen=True, slots=True)
class Match:
    """One topic that matched one article, with the passages that made it match."""

    topic: str
    snippets: tuple[str, ...] = ()
    hits: int = 0


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What storing one article did: new record, new revision, or nothing."""

    article_id: int
    story_id: int
    status: Literal["new", "updated", "unchanged", "duplicate"]
    alerts: int = 0  # alert rows queued by this write


@dataclass(slots=True)
class SourceReport:
    """The counts one run of one source ends with (the `monitor fetch` summary table)."""

    source: str
    links: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    alerts_sent: int = 0
    error: str | None = None  # the source itself failed (its listing, feed or sitemap)
    errors: list[str] = field(default_factory=list)  # per-URL failures, one line each

    @property
    def ok(self) -> bool:
        return self.error is None

    def add(self, part: SourceReport) -> None:
        """Count in what another process did for this source (``monitor fetch --workers``)."""
        self.fetched += part.fetched
        self.new += part.new
        self.updated += part.updated
        self.unchanged += part.unchanged
        self.failed += part.failed
        self.skipped += part.skipped
        self.errors += part.errors
