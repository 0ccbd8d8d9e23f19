"""The one exception tree of ``monitor``.

Every error the package raises on purpose derives from :class:`MonitorError`, and carries what
failed (a file and line, a URL, a source, a channel), so that the reason survives to the log,
the database and the user::

    MonitorError
    ├── ConfigError              config.yaml is wrong: file, line and key
    │   └── QueryError           a topic query does not parse: topic, column, what was expected
    ├── FetchError               one URL could not be fetched; ``outcome`` names how it ended
    ├── DiscoverError            a feed, sitemap or listing page could not be read
    ├── ExtractError             a page could not be turned into an Article
    ├── StoreError               the database refused a read or a write
    └── DeliveryError            an alert could not be delivered to a channel
        └── ChannelGone          the receiver said 410 Gone: the channel is disabled

The CLI turns these into exit codes and one clear line; nothing else should reach a user.
"""

from __future__ import annotations

__all__ = [
    "ChannelGone",
    "ConfigError",
    "DeliveryError",
    "DiscoverError",
    "ExtractError",
    "FetchError",
    "MonitorError",
    "QueryError",
    "StoreError",
]


class MonitorError(Exception):
    """Base of every error raised on purpose by ``monitor``."""


class ConfigError(MonitorError):
    """The configuration is invalid. ``str()`` reads ``file:line: key: message``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class QueryError(ConfigError):
    """A topic query is malformed: names the topic, the column (1-based) and what was expected."""

    def __init__(self, message: str, *, topic: str | None = None, field: str = "query",
                 col: int | None = None, file: str | None = None, line: int | None = None) -> None:
        self.topic = topic
        self.col = col
        self.field = field
        key = f"topics.{topic}.{field}" if topic else field
        text = f"col {col}: {message}" if col is not None else message
        super().__init__(text, file=file, line=line, key=key)
        self.detail = message


class FetchError(MonitorError):
    """A URL could not be fetched. ``outcome`` is one of :data:`monitor.models.FETCH_OUTCOMES`."""

    def __init__(self, message: str, *, url: str, outcome: str, status: int | None = None) -> None:
        self.url = url
        self.outcome = outcome
        self.status = status
        super().__init__(f"{url}: {message}")


class DiscoverError(MonitorError):
    """A feed, sitemap or listing page could not be read into links."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{url}: {message}")


class ExtractError(MonitorError):
    """A page could not be turned into an Article (empty, binary, not HTML)."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{url}: {message}" if url else message)


class StoreError(MonitorError):
    """The database could not be opened, migrated, read or written."""


class DeliveryError(MonitorError):
    """An alert could not be delivered. ``retry_after`` is the receiver's wish, in seconds."""

    def __init__(self, message: str, *, channel: str, status: int | None = None,
                 retry_after: float | None = None, body: str = "") -> None:
        self.channel = channel
        self.status = status
        self.retry_after = retry_after
        self.body = body
        super().__init__(f"channel {channel}: {message}")


class ChannelGone(DeliveryError):
    """The webhook answered 410 Gone: the channel is disabled until its config changes."""
