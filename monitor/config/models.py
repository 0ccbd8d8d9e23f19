"""The config's models: frozen, validated, with their defaults (what :mod:`.load` validates a
config.yaml into). Every rule here has a test that makes it fire (tests/test_config.py and friends)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ..errors import ConfigError
from ..units import parse_duration, parse_size

__all__ = [
    "CHANNEL_TYPES",
    "SOURCE_KINDS",
    "WEEKDAYS",
    "AlertsConfig",
    "AppriseChannel",
    "ChannelConfig",
    "Config",
    "DigestConfig",
    "EmailChannel",
    "FetchConfig",
    "QuietHours",
    "ServerConfig",
    "SiteRules",
    "SourceConfig",
    "TopicConfig",
    "WebhookChannel",
    "parse_listen",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]


def _check_proxy(value: str | None) -> str | None:
    if value is not None and not re.match(r"^(https?|socks5h?)://[^/\s]+/?$", value):
        raise ValueError("a proxy is an http://, https://, socks5:// or socks5h:// URL such as "
                         "http://proxy.example:3128 or socks5h://127.0.0.1:9050")
    return value


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, item in value.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"{name!r} is not a valid header or cookie name")
        if any(c in str(item) for c in "\r\n\x00"):
            raise ValueError(f"the value of {name!r} contains a line break")
    return value


Proxy = Annotated[str | None, AfterValidator(_check_proxy)]
HeaderMap = Annotated[dict[str, str], AfterValidator(_check_headers)]  # headers or cookies: name -> value

SOURCE_KINDS = ("feed", "sitemap", "listing", "page")
CHANNEL_TYPES = ("webhook", "email", "apprise")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FetchConfig(_Model):
    user_agent: str = "monitor/0.1 (+https://github.com/monitor-news/monitor)"
    timeout: Duration = 20.0
    deadline: Duration = 60.0
    per_host_delay: Duration = 1.0
    max_bytes: Size = 10_000_000
    concurrency: int = Field(default=8, ge=1, le=256)
    max_redirects: int = Field(default=5, ge=0, le=20)
    retries: int = Field(default=2, ge=0, le=10)
    retry_after_cap: Duration = 120.0
    respect_robots: bool = True
    allow_private_networks: bool = False
    headers: HeaderMap = Field(default_factory=dict)
    cookies: HeaderMap = Field(default_factory=dict)
    proxy: Proxy = None

    @field_validator("timeout", "deadline")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0 seconds")
        return value

    @field_validator("max_bytes")
    @classmethod
    def _room(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("must be at least 1KiB (a page has to fit)")
        return value

    @field_validator("user_agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        if not value.strip() or any(c in value for c in "\r\n"):
            raise ValueError("must be one non-empty line (it is sent as a header and matched in robots.txt)")
        return value


class SiteRules(_Model):
    """CSS selectors that override the extraction heuristics for one source."""

    body: str | None = None
    title: str | None = None
    byline: str | None = None
    captions: str | None = None
    drop: list[str] = Field(default_factory=list)


class SourceConfig(_Model):
    name: str = Field(pattern=_NAME)
    url: str
    kind: Literal["feed", "sitemap", "listing", "page"] | None = None
    every: Duration = 900.0
    cron: str | None = None
    timezone: str = "UTC"
    follow: str | None = None
    links: str | None = None
    max_age: Duration = 7 * 86400.0
    max_links: int = Field(default=200, ge=1)
    revisit: Duration | None = 6 * 3600.0  # re-check stored articles (conditional GET) this often
    expect_every: Duration | None = None  # a new article at least this often, or the operator is alerted
    backoff_max: Duration = 6 * 3600.0  # a failing source waits every x 2^failures, at most this long
    alert_after_failures: int = Field(default=3, ge=1)  # failing runs in a row before the operator is alerted
    headers: HeaderMap = Field(default_factory=dict)
    cookies: HeaderMap = Field(default_factory=dict)
    proxy: Proxy = None
    extract: SiteRules | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("links")
    @classmethod
    def _css(cls, value: str | None) -> str | None:
        if value is not None:
            from selectolax.lexbor import LexborHTMLParser, SelectolaxError

            try:
                LexborHTMLParser("<p></p>").css(value)
            except SelectolaxError:
                raise ValueError("not a valid CSS selector") from None
        return value

    @field_validator("follow")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("every", "backoff_max", "expect_every")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be longer than 0 seconds")
        return value


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {**{d: d for d in WEEKDAYS}, "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
              "friday": "fri", "saturday": "sat", "sunday": "sun"}
_DAY_GROUPS = {"weekdays": WEEKDAYS[:5], "weekends": WEEKDAYS[5:]}


def _weekdays(value: object) -> tuple[str, ...] | None:
    """``[mon, Thursday]``, ``fri``, ``weekdays``, ``weekends`` -> three-letter names in week order."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("`days` names weekdays: [mon, thu], one day (fri), weekdays or weekends")
    chosen: set[str] = set()
    for item in items:
        name = str(item).strip().lower()
        if name in _DAY_GROUPS:
            chosen.update(_DAY_GROUPS[name])
        elif name in _DAY_NAMES:
            chosen.add(_DAY_NAMES[name])
        else:
            raise ValueError(f"{item!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun, or the full "
                             f"names; weekdays; weekends)")
    return tuple(d for d in WEEKDAYS if d in chosen)


Weekdays = Annotated[tuple[str, ...] | None, BeforeValidator(_weekdays)]


class DigestConfig(_Model):
    """``every`` (steps from local midnight, at most a day) or ``at`` (a local time, every day or on
    ``days``), in ``timezone``."""

    every: Duration | None = None
    at: str | None = Field(default=None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    days: Weekdays = None  # with `at`: the weekdays it fires on (mon ... sun), in week order
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("every")
    @classmethod
    def _every(cls, value: float | None) -> float | None:
        if value is not None and not 60 <= value <= 86400:
            raise ValueError("a digest's `every` is between 1m and 1d (use `at` for a daily time)")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> DigestConfig:
        if (self.every is None) == (self.at is None):
            raise ValueError("a digest needs either `every` (e.g. 1h) or `at` (e.g. \"08:00\"), not both")
        if self.days is not None and self.at is None:
            raise ValueError("`days` goes with `at` (e.g. {at: \"09:00\", days: [mon]}), not with `every`")
        return self


class TopicConfig(_Model):
    name: str = Field(pattern=_NAME)
    query: str
    channels: list[str] | None = None  # None: every channel
    min_hits: int = Field(default=1, ge=1)
    exclude: str | None = None
    sources: list[str] | None = None
    lang: list[str] | None = None
    digest: DigestConfig | None = None


class QuietHours(_Model):
    """A daily window (``start`` to ``end``), whole quiet ``days``, or both, on ``timezone``'s clock."""

    start: str | None = Field(default=None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    end: str | None = Field(default=None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    days: Weekdays = None  # whole local days without alerts: [sat, sun]
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _window(self) -> QuietHours:
        if (self.start is None) != (self.end is None):
            raise ValueError("quiet hours need both `start` and `end` (or only `days`)")
        if self.start is None and not self.days:
            raise ValueError("quiet hours need `start` and `end`, or `days`, or both")
        if self.start is not None and self.end is not None and _minutes(self.start) == _minutes(self.end):
            raise ValueError("quiet hours that start when they end would never end")
        if self.days and len(self.days) == 7:
            raise ValueError("quiet on every day of the week would never end")
        return self


class _Channel(_Model):
    name: str = Field(pattern=_NAME)
    quiet_hours: QuietHours | None = None
    enabled: bool = True


_SIGNED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                             "content-length"})


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str
    secret: str | list[str]
    format: Literal["json", "slack"] = "json"
    timeout: Duration = 15.0
    headers: HeaderMap = Field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        return [self.secret] if isinstance(self.secret, str) else list(self.secret)

    @field_validator("headers")
    @classmethod
    def _own_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in _SIGNED_HEADERS:
                raise ValueError(f"{name!r} is set by monitor on every delivery (the signature and its body)")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            if not item.startswith("whsec_"):
                raise ValueError("a webhook secret starts with 'whsec_' (Standard Webhooks)")
        return value


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str
    port: int | None = None
    security: Literal["starttls", "ssl", "none"] = "starttls"
    verify: bool = True
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # a PEM bundle to trust instead of the system's (a private CA)
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    timeout: Duration = 30.0

    @property
    def smtp_port(self) -> int:
        if self.port:
            return self.port
        return {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class AppriseChannel(_Channel):
    type: Literal["apprise"]
    urls: list[str] = Field(min_length=1)


ChannelConfig = Annotated[WebhookChannel | EmailChannel | AppriseChannel, Field(discriminator="type")]

DEFAULT_RETRY = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class AlertsConfig(_Model):
    retry: list[Duration] = Field(default_factory=lambda: list(DEFAULT_RETRY), min_length=1)
    fetch_grace: Duration = 30.0
    jitter: float = Field(default=0.1, ge=0, le=1)
    templates: str | None = None


class ServerConfig(_Model):
    listen: str | None = None  # "127.0.0.1:8080"; None: no HTTP endpoint
    max_alert_age: Duration = 3600.0  # /readyz fails while a pending alert is older than this

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_listen(value)
        return value


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every interface) -> (host, port). Raises ValueError."""
    host, sep, port = value.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"not an address: {value!r}; use HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"put an IPv6 address in brackets: [{host}]:{port}")
    return host or "0.0.0.0", int(port)


class Config(_Model):
    database: str = "monitor.db"
    workers: int | None = Field(default=None, ge=1, le=64)
    fetch: FetchConfig = Field(default_factory=FetchConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    topics: list[TopicConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    ops_channels: list[str] = Field(default_factory=list)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    retention: Duration | None = None
    fetch_history: Duration | None = 90 * 86400.0
    store_html: bool = False
    path: str | None = Field(default=None, exclude=True)  # the file it came from (set by the loader)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: float | None) -> float | None:
        if value is not None and value < 86400:
            raise ValueError("keeps full text for at least 1 day (a bare number is seconds: write '30d')")
        return value

    @field_validator("fetch_history")
    @classmethod
    def _fetch_history(cls, value: float | None) -> float | None:
        if value is not None and value < 86400:
            raise ValueError("keeps at least 1 day of fetch records (a bare number is seconds: write '90d'; "
                             "null keeps them all)")
        return value

    @model_validator(mode="after")
    def _beside_the_config(self) -> Config:
        """A relative ``ca_file`` is taken from the config file's folder, as ``database`` and
        ``alerts.templates`` are (not from wherever the daemon was started)."""
        if self.path:
            folder = Path(self.path).resolve().parent
            for i, channel in enumerate(self.channels):
                ca_file = getattr(channel, "ca_file", None)
                if ca_file and not os.path.isabs(ca_file):
                    self.channels[i] = channel.model_copy(update={"ca_file": str(folder / ca_file)})
        return self

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise ConfigError(f"no source named {name!r}; sources: {', '.join(s.name for s in self.sources)}",
                          file=self.path, key="sources")

    def channel(self, name: str) -> WebhookChannel | EmailChannel | AppriseChannel:
        for ch in self.channels:
            if ch.name == name:
                return ch
        raise ConfigError(f"no channel named {name!r}; channels: {', '.join(c.name for c in self.channels)}",
                          file=self.path, key="channels")

    def topic_channels(self, topic: TopicConfig) -> list[str]:
        """The channels a topic alerts: its own list, else every channel; never one with enabled: false."""
        on = [c.name for c in self.channels if c.enabled]
        return [c for c in topic.channels if c in on] if topic.channels is not None else on

    @property
    def templates_path(self) -> str | None:
        """``alerts.templates``, a relative path taken from the config file's folder."""
        t = self.alerts.templates
        if not t or os.path.isabs(t) or not self.path:
            return t
        return str(Path(self.path).resolve().parent / t)

    @property
    def database_path(self) -> str:
        """The database path, relative paths taken from the config file's folder."""
        if self.database == ":memory:" or os.path.isabs(self.database) or not self.path:
            return self.database
        return str(Path(self.path).resolve().parent / self.database)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _check_timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value
