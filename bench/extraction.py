"""Extraction benchmark: monitor against trafilatura and readability-lxml, measured in one run.

Body mode (default) reads ``--data`` (``html/<id>.html.gz`` + ``ground-truth.json``, see that folder's
README for the metric) and prints, per extractor, F1, precision, recall, exact-match accuracy,
median and total CPU milliseconds per page (``time.process_time``) and the speed ratio against
trafilatura. ``--readability DIR`` scores titles, bylines, captions and body text on the readability
pages (``cases.json``). Data is read from its folder at run time, never copied into the repository.

    python bench/extraction.py                                   # all extractors, dev set
    python bench/extraction.py --only monitor --min-f1 0.96      # CI quality gate (no peers imported)
    python bench/extraction.py --readability ../shared/data/readability-pages --json out.json
    python bench/extraction.py --rounds 3                        # steadier speed ratios (fresh processes)

Exit status: 0, or 1 when ``--min-f1`` is given and monitor scores below it.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import multiprocessing
import re
import statistics
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "extraction-dev"
PEERS = ("monitor", "trafilatura", "readability")

Extractor = Callable[[str, str], str]

# ----------------------------------------------------------------------------- the metric

_WORD = re.compile(r"\w+")


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = _WORD.findall(text)
    if not tokens:
        return Counter()
    if len(tokens) < 4:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i:i + 4]) for i in range(len(tokens) - 3))


def page_counts(predicted: str, expected: str) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page, divided by their sum so every page weighs the same."""
    p, e = shingles(predicted), shingles(expected)
    tp = sum((p & e).values())
    fp = sum(p.values()) - tp
    fn = sum(e.values()) - tp
    total = tp + fp + fn
    if total == 0:
        return 1.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


@dataclass
class Score:
    name: str
    precisions: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    exact: int = 0
    pages: int = 0
    times: list[float] = field(default_factory=list)
    errors: int = 0
    per_page: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, page_id: str, predicted: str, expected: str, seconds: float) -> None:
        tp, fp, fn = page_counts(predicted, expected)
        self.pages += 1
        self.times.append(seconds)
        if tp + fp > 0:
            self.precisions.append(tp / (tp + fp))
        if tp + fn > 0:
            self.recalls.append(tp / (tp + fn))
        if _WORD.findall(predicted) == _WORD.findall(expected):
            self.exact += 1
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        self.per_page[page_id] = {"precision": round(p, 4), "recall": round(r, 4)}

    @property
    def precision(self) -> float:
        return statistics.fmean(self.precisions) if self.precisions else 0.0

    @property
    def recall(self) -> float:
        return statistics.fmean(self.recalls) if self.recalls else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "f1": round(self.f1, 4), "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "accuracy": round(self.exact / self.pages, 4) if self.pages else 0.0, "pages": self.pages,
            "errors": self.errors,
            "median_ms": round(statistics.median(self.times) * 1000, 3) if self.times else 0.0,
            "total_ms": round(sum(self.times) * 1000, 1),
        }


# ----------------------------------------------------------------------------- extractors


def _monitor() -> Extractor:
    from monitor.extract import extract

    return lambda html, url: extract(html, url=url).text


def _trafilatura() -> Extractor:
    import trafilatura

    def run(html: str, url: str) -> str:
        return trafilatura.extract(html, url=url, favor_precision=True) or ""

    return run


def _readability() -> Extractor:
    import lxml.html
    from readability import Document

    blocks = ("p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "td", "blockquote", "pre")

    def run(html: str, url: str) -> str:
        summary = Document(html, url=url).summary(html_partial=True)
        tree = lxml.html.fromstring(summary)
        for el in tree.iter(*blocks):
            el.tail = "\n" + (el.tail or "")
        return str(tree.text_content())

    return run


LOADERS: dict[str, Callable[[], Extractor]] = {
    "monitor": _monitor, "trafilatura": _trafilatura, "readability": _readability}


def load_extractors(only: list[str]) -> dict[str, Extractor]:
    out: dict[str, Extractor] = {}
    for name in only:
        try:
            out[name] = LOADERS[name]()
        except ImportError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
    return out


def decode(raw: bytes) -> str:
    from monitor.extract.decode import to_text

    return to_text(raw)


def timed(fn: Extractor, html: str, url: str) -> tuple[str, float, bool]:
    start = time.process_time()
    try:
        out = fn(html, url)
        ok = True
    except Exception as exc:  # a peer's failure is a score of zero on that page, not a crash
        print(f"  error: {type(exc).__name__}: {exc}"[:200], file=sys.stderr)
        out, ok = "", False
    return out, time.process_time() - start, ok


# ----------------------------------------------------------------------------- body mode


def load_pages(data: Path) -> list[tuple[str, str, str, str]]:
    """(id, decoded HTML, URL, expected body) of every page of the set."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for page_id in sorted(truth):
        path = data / "html" / f"{page_id}.html.gz"
        if path.exists():
            html = decode(gzip.decompress(path.read_bytes()))
            pages.append((page_id, html, truth[page_id].get("url") or "", truth[page_id]["articleBody"]))
    return pages


Pass = tuple[dict[str, str], dict[str, float], set[str]]  # texts, CPU seconds, pages that failed


def time_pages(fn: Extractor, pages: list[tuple[str, str, str, str]], repeat: int) -> Pass:
    """One extractor over every page: its text and CPU time (the fastest of ``repeat``)."""
    texts: dict[str, str] = {}
    times: dict[str, float] = {}
    failed: set[str] = set()
    gc.collect()
    for page_id, html, url, _ in pages:
        best = float("inf")
        for _ in range(repeat):
            text, seconds, ok = timed(fn, html, url)
            best = min(best, seconds)
            if not ok:
                failed.add(page_id)
        texts[page_id], times[page_id] = text, best
    return texts, times, failed


def _fresh_pass(name: str, data: str, repeat: int) -> Pass:
    """A pass in a process of its own (started for it): nothing warm from an earlier pass."""
    fn = load_extractors([name])[name]
    return time_pages(fn, load_pages(Path(data)), repeat)


def run_body(data: Path, extractors: dict[str, Extractor], repeat: int, rounds: int = 1) -> dict[str, Score]:
    """Each extractor reads every page in its own pass (interleaving them per page would charge
    one library's garbage to the other's clock); pages are decoded once, outside the timing.

    With ``rounds`` > 1 every pass runs in a fresh process, the extractors take turns, and each
    page keeps its fastest time over the rounds: a burst of load from other processes then
    lands in one round of one extractor instead of deciding the ratio. Fresh processes start
    with cold caches, as on pages never seen before."""
    pages = load_pages(data)
    passes: dict[str, list[Pass]] = {name: [] for name in extractors}
    if rounds <= 1:
        for name, fn in extractors.items():
            passes[name].append(time_pages(fn, pages, repeat))
    else:
        context = multiprocessing.get_context("spawn")
        for _ in range(rounds):
            for name in extractors:
                with context.Pool(1) as pool:
                    passes[name].append(pool.apply(_fresh_pass, (name, str(data), repeat)))
    scores = {name: Score(name) for name in extractors}
    for name, runs in passes.items():
        texts, _, failed = runs[0]
        scores[name].errors = len(failed)
        for page_id, _, _, expected in pages:
            best = min(times[page_id] for _, times, _ in runs)
            scores[name].add(page_id, texts[page_id], expected, best)
    return scores


def print_body(scores: dict[str, Score]) -> None:
    ref = scores.get("trafilatura")
    ref_ms = statistics.median(ref.times) if ref and ref.times else None
    print(f"{'extractor':<13}{'F1':>7}{'prec':>7}{'recall':>7}{'exact':>7}{'med ms':>8}{'total ms':>10}"
          f"{'speed':>8}{'errors':>7}")
    for name, s in scores.items():
        m = s.summary()
        ratio = f"{ref_ms / statistics.median(s.times):.1f}x" if ref_ms and s.times else "n/a"
        print(f"{name:<13}{m['f1']:>7.3f}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['accuracy']:>7.3f}"
              f"{m['median_ms']:>8.2f}{m['total_ms']:>10.0f}{ratio:>8}{m['errors']:>7}")


# ----------------------------------------------------------------------------- readability mode

_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_SEP_AFTER = re.compile(r"\s*[|\-–—·•»:/~_｜\[(]")
_SEP_BEFORE = re.compile(r"[|\-–—·•»:/~_｜\])]\s*$")
_LABEL = re.compile(r"\b(?:written|edited|reported|posted|published|updated|last|by|par|por|von|follow|"
                    r"author|at|on|am|pm)\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(?=\d)|"
                    r"\d[\d:./-]*\w*", re.I)
_NAME_SPLIT = re.compile(r"\n|,|;|&|\(|\)|\b(?:and|et|und|y|avec|with|mit|con)\b", re.I)


def norm(text: str | None) -> str:
    """NFC, soft hyphens and zero-width characters removed, white space collapsed (the README's rule)."""
    return " ".join(unicodedata.normalize("NFC", text or "").translate(_INVISIBLE).split())


def title_right(got: str, expected: str) -> tuple[bool, bool]:
    """(exact, right): right also accepts the headline without the site-name segment of
    ``<title>`` ("Headline | Site" expected, "Headline" given, or the other way round)."""
    g, e = norm(got).casefold(), norm(expected).casefold()
    if g == e:
        return True, True
    if not g or not e:
        return False, False
    for longer, shorter in ((e, g), (g, e)):
        if longer.startswith(shorter) and _SEP_AFTER.match(longer[len(shorter):]):
            return False, True
        if longer.endswith(shorter) and _SEP_BEFORE.search(longer[: len(longer) - len(shorter)]):
            return False, True
    return False, False


def expected_names(byline: str | None) -> list[str]:
    """The people an expected byline names: labels ("By", "Updated"), dates and times removed,
    split on commas, "and", "&", parentheses and line breaks."""
    if not byline:
        return []
    names = []
    for part in _NAME_SPLIT.split(byline):
        part = " ".join(_LABEL.sub(" ", part).split()).strip(" .:-|")
        if len(part) >= 2 and any(c.isalpha() for c in part) and "://" not in part:
            names.append(part)
    return names


def caption_match(got: str, expected: str) -> bool:
    g, e = norm(got).casefold(), norm(expected).casefold()
    return bool(g and e) and (g == e or (len(g) >= 8 and g in e) or (len(e) >= 8 and e in g))


def _bare(text: str) -> str:
    """Text without any white space, for "does the reference hold this text anywhere" checks."""
    return "".join(norm(text).casefold().split())


def run_readability(folder: Path, only: list[str]) -> dict[str, Any]:
    from monitor.extract import extract

    cases = json.loads((folder / "cases.json").read_text(encoding="utf-8"))["cases"]
    rows = []
    times = []
    for case in cases:
        raw = (folder / case["source"]).read_bytes()
        start = time.process_time()
        try:
            art = extract(raw, url=f"http://fakehost/{case['dir']}/")
            got: dict[str, Any] = {"title": art.title, "byline": art.byline, "captions": art.captions,
                                   "text": art.text}
            error = None
        except Exception as exc:
            got = {"title": "", "byline": "", "captions": [], "text": ""}
            error = f"{type(exc).__name__}: {exc}"
        times.append(time.process_time() - start)
        exact, right = title_right(got["title"], case["title"] or "")
        names = expected_names(case["byline"])
        byline_ok = all(n.casefold() in norm(got["byline"]).casefold() for n in names) if names else None
        exp_caps = case.get("expected_captions") or []
        found = sum(1 for e in exp_caps if any(caption_match(g, e) for g in got["captions"]))
        invented = [g for g in got["captions"] if not any(caption_match(g, e) for e in exp_caps)]
        reference_text = _bare(case.get("expected_text") or "")
        text = norm(got["text"])
        must = case.get("must_contain") or []
        tp, fp, fn = page_counts(got["text"], case.get("expected_text") or "")
        rows.append({
            "name": case["name"], "error": error, "title": got["title"], "expected_title": case["title"],
            "title_exact": exact, "title_right": right, "byline": got["byline"],
            "expected_byline": case["byline"], "expected_names": names, "byline_ok": byline_ok,
            "captions_expected": len(exp_caps), "captions_found": found, "captions_invented": invented,
            "captions_in_reference_text": [_bare(g) in reference_text for g in invented],
            "must_contain_ok": sum(1 for m in must if norm(m) in text), "must_contain": len(must),
            "f1": 2 * tp / (2 * tp + fp + fn) if tp else 0.0,
        })
    with_byline = [r for r in rows if r["expected_byline"]]
    with_names = [r for r in with_byline if r["expected_names"]]
    without = [r for r in rows if not r["expected_byline"]]
    exp_caps_total = sum(r["captions_expected"] for r in rows)
    summary = {
        "pages": len(rows),
        "errors": sum(1 for r in rows if r["error"]),
        "title_right": sum(r["title_right"] for r in rows) / len(rows),
        "title_exact": sum(r["title_exact"] for r in rows) / len(rows),
        "byline_right": sum(1 for r in with_byline if r["byline_ok"]) / max(len(with_byline), 1),
        "bylines_expected": len(with_byline),
        "bylines_with_names": len(with_names),
        "byline_right_of_named": sum(1 for r in with_names if r["byline_ok"]) / max(len(with_names), 1),
        "byline_empty_when_none": sum(1 for r in without if not r["byline"]) / max(len(without), 1),
        "pages_without_byline": len(without),
        "caption_recall": sum(r["captions_found"] for r in rows) / max(exp_caps_total, 1),
        "captions_expected": exp_caps_total,
        "captions_invented_on_captioned_pages": sum(len(r["captions_invented"]) for r in rows
                                                    if r["captions_expected"]),
        "captions_on_pages_without": sum(len(r["captions_invented"]) for r in rows if not r["captions_expected"]),
        "must_contain": sum(r["must_contain_ok"] for r in rows) / max(sum(r["must_contain"] for r in rows), 1),
        "body_f1_mean": statistics.fmean(r["f1"] for r in rows),
        "median_ms": round(statistics.median(times) * 1000, 3),
    }
    return {"summary": summary, "rows": rows}


def print_readability(result: dict[str, Any]) -> None:
    s = result["summary"]
    print(f"readability pages: {s['pages']} (errors: {s['errors']}), median {s['median_ms']:.2f} ms/page")
    print(f"  title right            {s['title_right']:.1%}  (exact {s['title_exact']:.1%})")
    print(f"  byline right           {s['byline_right']:.1%} of {s['bylines_expected']} "
          f"({s['byline_right_of_named']:.1%} of the {s['bylines_with_names']} that name someone)")
    print(f"  byline empty when none {s['byline_empty_when_none']:.1%} of {s['pages_without_byline']}")
    print(f"  caption recall         {s['caption_recall']:.1%} of {s['captions_expected']}; not expected: "
          f"{s['captions_invented_on_captioned_pages']} on captioned pages, "
          f"{s['captions_on_pages_without']} on the others")
    print(f"  body must_contain      {s['must_contain']:.1%}; body F1 (mean) {s['body_f1_mean']:.3f}")


def print_captions(result: dict[str, Any]) -> None:
    """Every caption monitor gives that the reference does not list as a caption, marked "text"
    when the reference keeps it as article text (a caption the reference did not mark as one)."""
    print("captions not in the reference's caption list (text: the reference has it as body text):")
    for row in result["rows"]:
        for caption, in_text in zip(row["captions_invented"], row["captions_in_reference_text"], strict=True):
            short = caption if len(caption) <= 90 else caption[:87] + "..."
            print(f"  {row['name']:<22} {'text' if in_text else '    '}  {short}")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="extraction-dev folder")
    ap.add_argument("--readability", type=Path, help="score title/byline/captions on these pages instead")
    ap.add_argument("--only", action="append", choices=PEERS, help="run only these extractors (repeatable)")
    ap.add_argument("--min-f1", type=float, help="exit 1 when monitor's F1 is below this")
    ap.add_argument("--repeat", type=int, default=1, help="time each page N times, keep the fastest")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every pass N times, each in a fresh process, taking turns; keep each page's "
                         "fastest time (steadier ratios on a busy machine)")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--pages", action="store_true", help="print per-page precision/recall of monitor")
    ap.add_argument("--captions", action="store_true",
                    help="readability mode: list every caption the reference does not expect")
    args = ap.parse_args(argv)

    if args.readability:
        result = run_readability(args.readability, args.only or ["monitor"])
        print_readability(result)
        if args.captions:
            print_captions(result)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")
        return 0
    if not (args.data / "ground-truth.json").exists():
        print(f"no data at {args.data} (ground-truth.json missing)", file=sys.stderr)
        return 2
    extractors = load_extractors(args.only or list(PEERS))
    scores = run_body(args.data, extractors, max(args.repeat, 1), max(args.rounds, 1))
    print_body(scores)
    if args.pages and "monitor" in scores:
        for page_id, pr in sorted(scores["monitor"].per_page.items(), key=lambda kv: min(kv[1].values())):
            print(f"{page_id[:16]}  p={pr['precision']:.3f} r={pr['recall']:.3f}")
    if args.json:
        out = {name: {**s.summary(), "pages_detail": s.per_page} for name, s in scores.items()}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")
    if args.min_f1 is not None:
        f1 = scores["monitor"].f1 if "monitor" in scores else 0.0
        if f1 < args.min_f1:
            print(f"FAIL: monitor F1 {f1:.4f} < {args.min_f1}", file=sys.stderr)
            return 1
        print(f"ok: monitor F1 {f1:.4f} >= {args.min_f1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
