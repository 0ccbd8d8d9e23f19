"""SIGKILL trials, a smaller run of bench/crash.py (which runs 20 and more): `monitor fetch` killed
during delivery (at a random moment, inside the receiver's answer, and at any moment), then run
again, ends with every alert delivered once per webhook-id except for sends cut off before they
were marked, and no article under two webhook-ids."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "bench" / "crash.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_crash", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_crash"] = module
    spec.loader.exec_module(module)
    return module


def test_sigkill_during_delivery_loses_and_doubles_nothing() -> None:
    crash = load_bench()
    result = crash.run(6, articles=5, delay=0.15, fail_share=0.15, seed=7)
    s = result["summary"]
    failed = [t for t in result["trials"] if not t["ok"]]
    assert not failed, failed
    assert s["ok"] == 6
    assert s["alerts"] == 30 and s["delivered"] == 30  # five articles, five alerts, per trial
    assert s["max_ids_per_article"] == 1
    assert s["unexplained_repeats"] == 0
    receipt = [t for t in result["trials"] if t["mode"] == "receipt"]
    # a kill inside the receiver's answer is a send cut off before it was marked, every time
    assert all(t["killed_during_delivery"] and t["cut_off"] >= 1 for t in receipt), receipt
    # and what was cut off was repeated (with its webhook-id) or nothing else was
    assert s["repeats"] == s["cut_off_sends"]
    assert sum(s["deliveries_per_webhook_id"].values()) == 30
