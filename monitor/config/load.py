"""Reading config.yaml: PyYAML's composer keeps every key's line, ``${VAR}`` (or ``VAR_FILE``) is
substituted, pydantic validates into :mod:`.models`, and the first error becomes a
:class:`~monitor.errors.ConfigError` naming the file, the line and the key; then the rules that
span sections (unique names, references, crontab lines, topic queries) are checked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, QueryError
from .models import CHANNEL_TYPES, SOURCE_KINDS, Config

__all__ = ["load_config", "parse_config", "resolve_config_path"]


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
    from ..topics import compile_topics

    try:
        compile_topics(cfg.topics, cfg.aliases)
    except QueryError as exc:
        idx = next((i for i, t in enumerate(cfg.topics) if t.name == exc.topic), None)
        loc: tuple[Any, ...] = ("topics", idx, exc.field) if idx is not None else ("aliases",)
        exc.file, exc.line = file, lines.nearest(loc)
        exc.args = (exc._render(),)
        raise exc from None
