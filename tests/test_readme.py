"""The README's commands exist: every `monitor ...` line of its shell examples and of its command
tables names a real command, and every `--option` it gives is one that command takes.

(Found because the README named `monitor topics explain` where the command is `monitor explain`.)
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from pathlib import Path

import click
import pytest

from monitor.cli import COMMAND_MODULES, cli

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"```(?:sh|bash|console)?\n(.*?)```", re.S)
_CELL = re.compile(r"`(monitor\s[^`]+)`")


def _commands() -> list[str]:
    text = README.read_text("utf-8")
    found: list[str] = []
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("monitor "):
                found.append(line.split(" #", 1)[0].strip())
    found += [" ".join(m.split()) for m in _CELL.findall(text) if "|" not in m]
    return found


def _resolve(words: list[str]) -> tuple[click.Command, list[str], list[str], list[str]]:
    """The command the words name, the names walked, the words after it, and the options given to
    a group on the way that it does not take."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"monitor.{name}")
    command: click.Command = cli
    path = ["monitor"]
    rest = words[1:]
    unknown: list[str] = []
    while rest and isinstance(command, click.Group):
        word = rest[0]
        if word.startswith("-"):  # a group's own option before the subcommand (--config PATH, --status S)
            options = {name: p for p in command.params if isinstance(p, click.Option) for name in p.opts}
            opt = options.get(word.split("=", 1)[0])
            if opt is None and word not in ("-h", "--help"):
                unknown.append(word)
            rest = rest[1:] if opt is None or opt.is_flag or "=" in word else rest[2:]
            continue
        sub = command.get_command(click.Context(command), word)
        if sub is None:
            break
        command, path, rest = sub, [*path, word], rest[1:]
    return command, path, rest, unknown


def _option_names(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for p in command.params:
        if isinstance(p, click.Option):
            names.update(p.opts)
            names.update(p.secondary_opts)
    return names


COMMANDS = _commands()


def test_the_readme_has_commands_to_check() -> None:
    assert len(COMMANDS) > 40
    assert any(c.startswith("monitor fetch") for c in COMMANDS)


@pytest.mark.parametrize("line", COMMANDS)
def test_readme_command_exists(line: str) -> None:
    assert _problem(line) is None, _problem(line)


def _problem(line: str) -> str | None:
    cleaned = re.sub(r"\[([^\]]*)\]", r"\1", line).replace("...", "")  # "[--since DATE]" -> "--since DATE"
    words = shlex.split(cleaned.replace("'", " ").replace('"', " "))
    command, path, rest, unknown = _resolve(words)
    if isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        return f"{line!r}: {' '.join(path)} has no subcommand {rest[0]!r}"
    known = _option_names(command) | _option_names(cli)
    unknown += [w.split("=", 1)[0] for w in rest if w.startswith("--") and w.split("=", 1)[0] not in known]
    return f"{line!r}: {' '.join(path)} takes no {', '.join(unknown)}" if unknown else None


def test_the_check_finds_what_is_wrong() -> None:
    assert "has no subcommand 'explain'" in str(_problem("monitor topics explain URL"))
    assert "takes no --bogus" in str(_problem("monitor search x --bogus"))
    assert "takes no --nope" in str(_problem("monitor alerts --nope"))
    assert _problem("monitor --config c.yaml alerts --status dead") is None


def test_every_config_key_is_in_the_config_reference() -> None:
    from pydantic import BaseModel

    from monitor.config import models

    text = README.read_text("utf-8")
    section = text[text.index("## Config reference"):text.index("\n## ", text.index("## Config reference") + 5)]
    shown = " ".join(re.findall(r"`([^`]+)`", section))
    missing = []
    for name in dir(models):
        model = getattr(models, name)
        if isinstance(model, type) and issubclass(model, BaseModel) and model.__module__ == models.__name__:
            for field_name, field in model.model_fields.items():
                key = field.alias or field_name
                if key != "path" and not re.search(rf"(^|[\s.`\[\]:{{(]){re.escape(key)}($|[\s.`\[\]:,}})])", shown):
                    missing.append(f"{name}.{key}")
    assert not missing, f"config keys the README's config reference does not name: {missing}"


def readme_json(heading: str) -> dict[str, object]:
    """The first JSON example under the README heading ``heading``."""
    text = README.read_text("utf-8")
    start = text.index(f"\n### {heading}\n")
    block = re.search(r"```json\n(.*?)```", text[start:], re.S)
    assert block, heading
    value = json.loads(block.group(1))
    assert isinstance(value, dict)
    return value


def keys(value: object) -> object:
    """The shape of a JSON value: its keys, recursively (the first item of a list stands for all)."""
    if isinstance(value, dict):
        return {k: keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [keys(value[0])] if value and isinstance(value[0], dict | list) else []
    return None
