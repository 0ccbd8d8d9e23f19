"""The container, tested without a Docker engine (none runs on these machines): the Dockerfile's
facts (parsed by dockerfile-parse), the compose file and its env example, and the image's install
steps in a clean virtual environment: the files the build stage copies are enough to build the
wheel, the wheel alone (no editable checkout) runs the container's command, and the HEALTHCHECK
command passes against it, under tini when tini is on this machine."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from monitor.config import load_config

from .conftest import SEED_HTML, Site, listing_html
from .daemon_process import free_port, wait_until

ROOT = Path(__file__).parent.parent
COMPILERS = ("build-essential", "gcc", "g++", "clang", "make", "cc ", "python3-dev", "libc6-dev")


def stages() -> list[list[dict[str, Any]]]:
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    out: list[list[dict[str, Any]]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            out.append([])
        if out and item["instruction"] != "COMMENT":
            out[-1].append(item)
    return out


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    return [i["value"] for i in stage if i["instruction"] == instruction]


def one(stage: list[dict[str, Any]], instruction: str) -> str:
    [value] = values(stage, instruction)
    return value


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    all_stages = stages()
    assert len(all_stages) == 2
    for stage in all_stages:
        assert re.fullmatch(r"python:\$\{PYTHON\}-slim( AS \w+)?", one(stage, "FROM")), one(stage, "FROM")
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    assert parser.baseimage == "python:3.12-slim"


def test_final_stage_has_no_compilers_and_installs_only_built_wheels() -> None:
    build, final = stages()
    assert any("build-essential" in run for run in values(build, "RUN")), "compilers belong in the build stage"
    runs = values(final, "RUN")
    installs = " ".join(runs)
    for compiler in COMPILERS:
        assert compiler not in installs, compiler
    assert "apt-get install -y --no-install-recommends tini" in installs
    assert "rm -rf /var/lib/apt/lists/*" in installs
    [pip] = [r for r in runs if "pip install" in r]
    assert "--no-index" in pip and "--no-cache-dir" in pip, "only the build stage's wheels, nothing compiled here"
    assert "--mount=type=bind,from=build,source=/wheels" in pip
    assert not values(final, "COPY") and not values(final, "ADD"), "nothing else comes into the final image"


def test_final_stage_runs_monitor_as_a_non_root_user_under_tini() -> None:
    _build, final = stages()
    user = one(final, "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000 and gid.isdigit(), "a numeric non-root user (runAsNonRoot can check it)"
    assert f"--uid {uid}" in " ".join(values(final, "RUN"))
    assert f"chown {uid}:{gid} /data" in " ".join(values(final, "RUN"))
    # USER comes after every RUN: nothing runs as root once the user is set.
    order = [i["instruction"] for i in final]
    assert max(i for i, x in enumerate(order) if x == "RUN") < order.index("USER")
    assert json.loads(one(final, "ENTRYPOINT")) == ["/usr/bin/tini", "--"]
    assert json.loads(one(final, "CMD")) == ["monitor", "run"]
    assert json.loads(one(final, "VOLUME")) == ["/data"]
    healthcheck = one(final, "HEALTHCHECK")
    assert healthcheck.endswith('CMD ["monitor", "health"]') and "--timeout=10s" in healthcheck


def test_final_stage_env_points_at_the_mounted_config_and_exposes_the_status_port() -> None:
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    env = parser.envs
    assert env["MONITOR_CONFIG"] == "/data/config.yaml"
    host, _, port = env["MONITOR_LISTEN"].rpartition(":")
    assert host == "0.0.0.0"
    _build, final = stages()
    assert one(final, "EXPOSE") == port


def test_build_context_holds_what_the_build_stage_copies() -> None:
    build, _final = stages()
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    for copy in values(build, "COPY"):
        *sources, _dest = shlex.split(copy)
        for src in sources:
            assert (ROOT / src).exists(), src
            assert not any(fnmatch(src, pattern) for pattern in ignored), f"{src} is in .dockerignore"
    for must_skip in (".git", "tests", "*.db", "monitor.env"):
        assert must_skip in ignored


def test_compose_mounts_the_config_and_reads_secrets_from_an_env_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    service = compose["services"]["monitor"]
    assert service["build"] == "."
    assert service["env_file"] == "monitor.env"
    assert "./config.yaml:/data/config.yaml:ro" in service["volumes"]
    assert "monitor-data:/data" in service["volumes"] and "monitor-data" in compose["volumes"]
    assert service["environment"]["MONITOR_CONFIG"] == "/data/config.yaml"
    assert service["ports"] == ["127.0.0.1:8080:8080"]
    assert int(service["stop_grace_period"].rstrip("s")) > 10
    assert service["command"][0] == "monitor" and service["command"][-1] == "run"


def test_env_example_fills_every_variable_the_shipped_config_reads() -> None:
    example = (ROOT / "monitor.env.example").read_text("utf-8")
    env = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    def strings(node: Any) -> list[str]:  # the config's values (YAML drops the comments)
        if isinstance(node, dict):
            return [s for v in node.values() for s in strings(v)]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    shipped = yaml.safe_load((ROOT / "config.yaml").read_text("utf-8"))
    needed = {m for s in strings(shipped) for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", s)}
    assert needed and needed <= set(env), needed - set(env)
    cfg = load_config(ROOT / "config.yaml", env=env)  # the example values make a valid config
    assert cfg.channels and cfg.database == "monitor.db"


# ---------------------------------------------------------------------------- the install steps
def test_wheel_from_the_build_context_runs_the_container_command(tmp_path: Path, site: Site) -> None:
    """The build stage's COPY lines -> a wheel -> a fresh venv (no editable checkout on its path);
    then the image's ENTRYPOINT + CMD with its ENV, and its HEALTHCHECK command."""
    build, final = stages()
    context = tmp_path / "src"
    context.mkdir()
    for copy in values(build, "COPY"):
        *sources, _dest = shlex.split(copy)
        for src in sources:
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, context / src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(ROOT / src, context / src)
    wheels = tmp_path / "wheels"
    # As the build stage's `pip wheel`, offline: no build isolation and no dependencies (they are
    # taken from this environment below); hatchling is a test dependency for this.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir",
                    "--wheel-dir", str(wheels), str(context)], check=True, capture_output=True, timeout=120)
    [wheel] = wheels.glob("monitor-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--no-cache-dir", str(wheel)], check=True, capture_output=True, timeout=120)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies: this environment's site-packages, after the venv's own (whose monitor wins).
    (site_packages / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", "utf-8")
    where = subprocess.run([str(python), "-c", "import monitor, sys; print(monitor.__file__)"], cwd=tmp_path,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(str(site_packages)), where

    # The container's environment: config mounted at /data/config.yaml, the database beside it.
    data = tmp_path / "data"
    data.mkdir()
    site.page("/news/seed/p.html", SEED_HTML.read_bytes())
    site.page("/opinions", listing_html(site.url + "/news/seed/p.html"))
    (data / "config.yaml").write_text(yaml.safe_dump({
        "database": "monitor.db",
        "fetch": {"per_host_delay": 0, "retries": 0},
        "sources": [{"name": "site", "url": site.url + "/opinions", "kind": "listing", "every": "2s"}],
        "topics": [{"name": "mou", "query": "MOU OR \"memoranda of understanding\""}],
    }), "utf-8")
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    port = free_port()
    env = {**os.environ, **parser.envs, "MONITOR_CONFIG": str(data / "config.yaml"),
           "MONITOR_LISTEN": f"0.0.0.0:{port}", "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    entrypoint = json.loads(one(final, "ENTRYPOINT"))
    command = json.loads(one(final, "CMD"))
    if shutil.which("tini"):  # Debian's tini, as the image installs it
        argv = [shutil.which("tini") or "tini", *entrypoint[1:], *command]
    else:
        argv = command
    assert shutil.which(command[0], path=env["PATH"]) == str(venv / "bin" / "monitor")
    health = shlex.split(one(final, "HEALTHCHECK").partition("CMD ")[2].strip("[]").replace(",", " "))
    log = (tmp_path / "container.log").open("w")
    proc = subprocess.Popen(argv, cwd=data, env=env, stdout=log, stderr=log)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "container.log").read_text("utf-8"))
            return subprocess.run(health, env=env, cwd=data, capture_output=True, timeout=30).returncode == 0
        wait_until(healthy, timeout=30, interval=0.3, what="`monitor health` to pass")
        assert (data / "monitor.db").exists(), "the database is created beside the mounted config, in /data"
        wait_until(lambda: site.hits("/news/seed/p.html"), what="the first run")

        def stored() -> list[tuple[str]]:  # extraction works from the wheel (its data files are packaged)
            with sqlite3.connect(data / "monitor.db") as conn:
                return conn.execute("SELECT title FROM articles").fetchall()
        assert wait_until(stored, what="the article stored") == [
            ("Seoul kicks off 2026 with Beijing visit to rebuild ties",)]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # `docker stop` sends it to tini, which passes it on
        assert proc.wait(15) == 0
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
    unhealthy = subprocess.run(health, env=env, cwd=data, capture_output=True, text=True, timeout=30)
    assert unhealthy.returncode == 1 and "cannot reach" in unhealthy.stderr


@pytest.mark.parametrize("path", ["Dockerfile", "docker-compose.yml", ".dockerignore", "monitor.env.example"])
def test_container_files_are_in_the_repository(path: str) -> None:
    assert (ROOT / path).is_file()
