"""config.yaml -> frozen, validated models.

The file is read once with PyYAML's composer so every key keeps its line; pydantic validates it;
any error becomes a :class:`~monitor.errors.ConfigError` naming the file, the line and the key.
``${VAR}`` in any string is replaced from the environment (``VAR_FILE`` naming a file works too,
for Docker secrets); a missing variable is an error. Defaults live on the models.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError, QueryError
from .units import parse_duration, parse_size

__all__ = [
    "AlertsConfig",
    "ChannelConfig",
    "Config",
    "DigestConfig",
    "EmailChannel",
    "FetchConfig",
    "SiteRules",
    "SourceConfig",
    "TopicConfig",
    "WEEKDAYS",
    "WebhookChannel",
    "load_config",
    "parse_config",
    "parse_listen",
    "resolve_config_path",
]

Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
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
    headers: dict[str, str] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    proxy: str | None = None

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

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return _check_proxy(value)

    @field_validator("headers", "cookies")
    @classmethod
    def _header_values(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


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
    headers: dict[str, str] = Field(default_factory=dict)
    cookies: dict[str, str] = Field(default_factory=dict)
    proxy: str | None = None
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

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return _check_proxy(value)

    @field_validator("headers", "cookies")
    @classmethod
    def _header_values(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)

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


class DigestConfig(_Model):
    """``every`` (steps from local midnight, at most a day) or ``at`` (a local time, every day or on
    ``days``), in ``timezone``."""

    every: Duration | None = None
    at: str | None = Field(default=None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    days: tuple[str, ...] | None = None  # with `at`: the weekdays it fires on (mon ... sun), in week order
    timezone: str = "UTC"

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: object) -> tuple[str, ...] | None:
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
    start: str = Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @model_validator(mode="after")
    def _window(self) -> QuietHours:
        if _minutes(self.start) == _minutes(self.end):
            raise ValueError("quiet hours that start when they end would never end")
        return self


class _Channel(_Model):
    name: str = Field(pattern=_NAME)
    quiet_hours: QuietHours | None = None
    enabled: bool = True


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str
    secret: str | list[str]
    format: Literal["json", "slack"] = "json"
    timeout: Duration = 15.0
    headers: dict[str, str] = Field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        return [self.secret] if isinstance(self.secret, str) else list(self.secret)

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


# ---------------------------------------------------------------------------- loading

def resolve_config_path(path: str | None) -> str:
    """``--config``, else ``$MONITOR_CONFIG``, else ``./config.yaml``."""
    return path or os.environ.get("MONITOR_CONFIG") or "config.yaml"


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, substitute and validate a config file. Raises ConfigError."""
    name = str(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found (use --config PATH or $MONITOR_CONFIG)", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=name) from None
    return parse_config(text, name, env=env)


def parse_config(text: str, file: str = "<config>", env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    data, lines = _compose(text, file, env)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys (database, sources, topics, ...)",
                          file=file, line=1)
    try:
        cfg = Config.model_validate({**data, "path": file})
    except ValidationError as exc:
        raise _first_error(exc, file, lines) from None
    _cross_check(cfg, file, lines)
    return cfg


class _Lines(dict[tuple[Any, ...], int]):
    def nearest(self, loc: tuple[Any, ...]) -> int | None:
        loc = tuple(loc)
        while loc:
            if loc in self:
                return self[loc]
            loc = loc[:-1]
        return self.get((), None)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _compose(text: str, file: str, env: Mapping[str, str]) -> tuple[Any, _Lines]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML: {problem}", file=file,
                          line=mark.line + 1 if mark else None) from None
    lines = _Lines()
    if root is None:
        return None, lines
    return _build(root, (), file, env, lines), lines


def _build(node: yaml.Node, path: tuple[Any, ...], file: str, env: Mapping[str, str], lines: _Lines) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError("YAML merge keys (<<) are not supported", file=file,
                                  line=key_node.start_mark.line + 1, key=_dotted(path))
            key = _scalar(key_node, path, file)
            if key in out:
                raise ConfigError("key given twice", file=file, line=key_node.start_mark.line + 1,
                                  key=_dotted((*path, key)))
            out[key] = _build(value_node, (*path, key), file, env, lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), file, env, lines) for i, item in enumerate(node.value)]
    value = _scalar(node, path, file)
    if isinstance(value, str):
        value = _substitute(value, path, file, node.start_mark.line + 1, env)
    return value


def _scalar(node: yaml.Node, path: tuple[Any, ...], file: str) -> Any:
    try:
        return yaml.SafeLoader("").construct_object(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid here: {problem}", file=file, line=node.start_mark.line + 1,
                          key=_dotted(path)) from None


def _substitute(value: str, path: tuple[Any, ...], file: str, line: int, env: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        var = m.group(1)
        if var in env:
            return env[var]
        secret_file = env.get(var + "_FILE")
        if secret_file:
            try:
                return Path(secret_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"${{{var}}}: cannot read {var}_FILE {secret_file}: {exc.strerror}",
                                  file=file, line=line, key=_dotted(path)) from None
        raise ConfigError(f"environment variable ${{{var}}} is not set", file=file, line=line,
                          key=_dotted(path))

    return _ENV.sub(repl, value)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _first_error(exc: ValidationError, file: str, lines: _Lines) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    loc = tuple(err["loc"])
    # pydantic puts the union member's tag in the path ("sources.0.webhook.url"): drop it.
    clean = tuple(p for p in loc if p not in CHANNEL_TYPES or not loc or loc[0] != "channels")
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"unknown key {clean[-1]!r}"
        msg += _did_you_mean(clean)
    elif kind == "missing":
        msg = "required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        got = err.get("input", {}).get("type") if isinstance(err.get("input"), dict) else None
        msg = (f"unknown channel type {got!r}; valid types: {', '.join(CHANNEL_TYPES)}" if got
               else f"a channel needs a type: one of {', '.join(CHANNEL_TYPES)}")
        clean = (*clean, "type")
    elif kind == "literal_error" and clean and clean[-1] == "kind":
        msg = f"unknown source kind {err.get('input')!r}; valid kinds: {', '.join(SOURCE_KINDS)}"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        secret = any(isinstance(p, str) and p in ("secret", "password") for p in clean)
        if "input" in err and not isinstance(err["input"], dict | list) and not secret:  # never echo a secret
            msg += f" (got {err['input']!r})"
    return ConfigError(msg, file=file, line=lines.nearest(clean), key=_dotted(clean))


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    import difflib

    model: type[BaseModel] | None = Config
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(str(part))
        model = _inner_model(info.annotation) if info else None
    if model is None:
        return ""
    names = [f.alias or n for n, f in model.model_fields.items() if n != "path"]
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(sorted(names))}"


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found:
            return found
    return None


def _cross_check(cfg: Config, file: str, lines: _Lines) -> None:
    """Rules that span sections: unique names, references, queries that parse."""

    def fail(msg: str, loc: tuple[Any, ...]) -> ConfigError:
        return ConfigError(msg, file=file, line=lines.nearest(loc), key=_dotted(loc))

    for section, items in (("sources", cfg.sources), ("topics", cfg.topics), ("channels", cfg.channels)):
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                raise fail(f"name {item.name!r} is used twice", (section, i, "name"))
            seen.add(item.name)
    channels = {c.name for c in cfg.channels}
    sources = {s.name for s in cfg.sources}
    for i, topic in enumerate(cfg.topics):
        for j, ch in enumerate(topic.channels or []):
            if ch not in channels:
                raise fail(f"no channel named {ch!r}; channels: {', '.join(sorted(channels)) or 'none'}",
                           ("topics", i, "channels", j))
        for j, src in enumerate(topic.sources or []):
            if src not in sources:
                raise fail(f"no source named {src!r}; sources: {', '.join(sorted(sources)) or 'none'}",
                           ("topics", i, "sources", j))
    for i, channel in enumerate(cfg.channels):
        ca_file = getattr(channel, "ca_file", None)
        if ca_file and not Path(ca_file).is_file():
            raise fail(f"no such file: {ca_file}", ("channels", i, "ca_file"))
    if cfg.templates_path and not Path(cfg.templates_path).is_dir():
        raise fail(f"no such folder: {cfg.templates_path}", ("alerts", "templates"))
    for j, ch in enumerate(cfg.ops_channels):
        if ch not in channels:
            raise fail(f"no channel named {ch!r}", ("ops_channels", j))
    for i, source in enumerate(cfg.sources):
        if source.cron:
            try:
                from apscheduler.triggers.cron import CronTrigger

                CronTrigger.from_crontab(source.cron, timezone=source.timezone)
            except ValueError as exc:
                raise fail(f"not a valid crontab expression: {exc}", ("sources", i, "cron")) from None
    from .topics import compile_topics

    try:
        compile_topics(cfg.topics, cfg.aliases)
    except QueryError as exc:
        idx = next((i for i, t in enumerate(cfg.topics) if t.name == exc.topic), None)
        loc: tuple[Any, ...] = ("topics", idx, exc.field) if idx is not None else ("aliases",)
        exc.file, exc.line = file, lines.nearest(loc)
        exc.args = (exc._render(),)
        raise exc from None
