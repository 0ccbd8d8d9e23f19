"""py-spy for ``bench/pipeline.py``: record one command (its subprocesses too) and read the
samples back as top functions (own time, total time) and CPU shares by pipeline stage.

py-spy samples only what is on the CPU (idle waits are left out), so shares are of busy time.
A sample's stage is that of its innermost frame that belongs to a stage (a regex inside the
extractor counts as extraction; a socket read inside anyio as HTTP); samples with no stage frame
at all are the event loop itself (or "other").
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

# (stage, substrings of a frame's file); the innermost frame that matches decides.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports and start-up", ("<frozen importlib", "importlib/", "monitor/config.py", "pydantic", "yaml/",
                              "site-packages/rich/", "rich/")),
    ("logging", ("logging/",)),
    ("charset decoding", ("monitor/encoding.py", "monitor/extract/decode.py", "charset_normalizer/")),
    ("extraction", ("monitor/extract/", "selectolax/")),
    ("topic matching", ("monitor/topics/",)),
    ("store, dedupe, outbox (sqlite)", ("monitor/store", "monitor/state.py", "monitor/dedup.py",
                                        "monitor/schema", "sqlite_utils/", "monitor/alerts/queue.py", "sqlite3/")),
    ("discovery (feed, listing)", ("monitor/discover.py", "feedparser/", "defusedxml/", "sgmllib")),
    ("alert delivery", ("monitor/alerts/", "standardwebhooks/", "jinja2/")),
    ("HTTP (fetch.py, httpx, httpcore, h11, anyio, gzip)", ("monitor/fetch.py", "monitor/guard.py", "httpx/",
                                                            "httpcore/", "h11/", "anyio/", "gzip.py", "zlib")),
    ("pipeline glue (pipeline.py, app.py)", ("monitor/pipeline.py", "monitor/app.py", "monitor/daemon.py")),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
)
# Frames every sample passes through (the interpreter, click, the event loop): left out of the
# "total time" list, where they would only say 100%.
WRAPPERS = ("<frozen runpy>", "click/", "monitor/cli.py", "monitor/__main__.py", "asyncio/", "threading.py",
            "contextlib.py", "multiprocessing/")


def _file(frame: str) -> str:
    return frame[frame.rfind("(") + 1:-1] if frame.endswith(")") else ""


def stage_of(frames: list[str]) -> str:
    """The stage of one sample (frames from root to leaf)."""
    for frame in reversed(frames):
        f = _file(frame)
        for name, keys in STAGES[:-2]:  # glue and the loop only when nothing else claims the sample
            if any(k in f for k in keys):
                return name
    for frame in reversed(frames):
        f = _file(frame)
        for name, keys in STAGES[-2:]:
            if any(k in f for k in keys):
                return name
    return "other"


def read_raw(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) format: ``frame;frame;... count``, root first; process frames dropped."""
    samples = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        samples.append((frames, int(count)))
    return samples


def summarize(samples: list[tuple[list[str], int]], top: int = 15) -> dict[str, Any]:
    total = sum(n for _, n in samples) or 1
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for frames, n in samples:
        if not frames:
            continue
        own[frames[-1]] += n
        for frame in set(frames):
            if not any(w in _file(frame) for w in WRAPPERS):
                inclusive[frame] += n
        stages[stage_of(frames)] += n

    def share(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "share": round(n / total, 4), "samples": n} for f, n in c.most_common(top)]

    return {"samples": total, "own": share(own), "total": share(inclusive),
            "stages": sorted(({"stage": s, "share": round(n / total, 4), "samples": n} for s, n in stages.items()),
                             key=lambda d: -d["share"])}


def record(cmd: list[str], raw: Path, *, rate: int, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    spy = shutil.which("py-spy")
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    started = time.perf_counter()
    done = subprocess.run([spy, "record", "--subprocesses", "--nolineno", "-r", str(rate), "-f", "raw",
                           "-o", str(raw), "--", *cmd], cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if not raw.exists():
        return {"error": f"py-spy wrote nothing (exit {done.returncode}): {done.stderr[-500:]}"}
    out = summarize(read_raw(raw))
    out.update({"wall_s": round(wall, 2), "rate": rate, "exit_code": done.returncode, "raw": str(raw)})
    return out


def render(prof: dict[str, Any], cpu_ms_per_article: float | None = None) -> str:
    """The profile as text; with the measured CPU per article, each stage's share in ms too."""
    if "error" in prof:
        return f"profile: {prof['error']}"
    lines = [f"py-spy: {prof['samples']} busy samples at {prof['rate']}/s over {prof['wall_s']}s (exit "
             f"{prof['exit_code']}); shares are of busy time", "",
             "where the CPU goes, by stage" + (f" (ms per article of the measured {cpu_ms_per_article:.2f})"
                                                if cpu_ms_per_article else "") + ":"]
    for s in prof["stages"]:
        ms = f"{s['share'] * cpu_ms_per_article:6.2f} ms  " if cpu_ms_per_article else ""
        lines.append(f"  {s['share'] * 100:5.1f}%  {ms}{s['stage']}")
    for key, title in (("own", "top functions by own time"), ("total", "top functions by total time (with callees; wrappers left out)")):
        lines += ["", f"{title}:"]
        for i, f in enumerate(prof[key], 1):
            lines.append(f"  {i:>2}. {f['share'] * 100:5.1f}%  {f['function']}")
    return "\n".join(lines)
