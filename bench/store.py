"""Storage at scale: inserts per second, near-duplicate lookup and search latency, bytes per article.

    python bench/store.py [--rows 200000] [--probes 200] [--json PATH] [--db PATH] [--seed N]

Articles are generated from a word-bigram model of the article bodies of the extraction
development set (``/work/shared/data/extraction-dev/ground-truth.json``, read in place; without it,
from a Zipf-distributed synthetic vocabulary): 6 to 14 paragraphs of 2 to 4 sentences, about 630
words, with names and numbers. 3% of the inserts are syndicated near-copies of a recent article
(another source, a new first paragraph, a republication line), 1% exact copies under another URL.
Every article goes through ``Store.save_article``, the pipeline's own path (one transaction each).

At 1k, 10k, 100k and 200k rows (those up to ``--rows``, and ``--rows`` itself):
- ``inserts/s``: over the rows added since the previous checkpoint;
- ``dedup``: ``Store.find_story`` (the index-only lookup and verification) for ``--probes`` near-copies
  of stored articles and as many unseen articles: median and p99, copies found, false joins;
- ``vs 1k peer``: the peer is a copy of the database taken at 1k rows; the same probes (near-copies of
  articles among the first 1k, so present in both, and unseen articles) run on both, interleaved, so
  machine load hits both alike: the ratio of the medians (and of the p99s);
- ``scan peer``: the same question answered by reading every row's SimHash (what the index avoids),
  median over 20 probes;
- ``search``: FTS5 + bm25 + snippet, 20 hits (and the same queries one hit per story), for rare, medium and frequent words, two-word AND,
  a phrase and a prefix: median and p99 over all, and the median per kind;
- ``bytes/article``: database file (after a WAL checkpoint) divided by the rows.

At the end: stories against distinct generated articles (every distinct article that joined a
story by mistake is counted), copies that found their story, and export memory.

The check: the dedup median at the largest size must be under 3x the median on the 1k peer (exit
status 1 if not). Time: inserting dominates; at about 400 inserts/s (a quiet 2-core machine) the
default 200k rows take about 9 minutes; under heavy load from other work it took 26. Use --rows
for a quick run. Export memory: peak Python allocation while streaming 1,000 and 20,000 rows to JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor import dedup  # noqa: E402
from monitor.models import Article  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.store_read import export_rows, search, write_export  # noqa: E402

CORPUS = Path("/work/shared/data/extraction-dev/ground-truth.json")
CHECKPOINTS = (1_000, 10_000, 100_000, 200_000)
LIMIT = 3.0
COPY_SHARE, EXACT_SHARE = 0.03, 0.01
SOURCES = ("wire", "daily", "tribune", "herald", "post", "courier", "gazette", "observer")
REPUBLISHED = "This article first appeared on {src} and is republished here with permission."


class Generator:
    """Article text from a word-bigram model; names and numbers sprinkled in."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        words: list[str] = []
        if CORPUS.exists():
            data = json.loads(CORPUS.read_text("utf-8"))
            for item in data.values():
                words += re.findall(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)?", item.get("articleBody") or "")
        if len(words) < 10_000:  # no corpus here: a Zipf-distributed synthetic vocabulary
            syllables = ["ka", "lo", "mi", "ten", "sar", "vu", "pel", "dor", "an", "is", "ro", "ne", "tu", "ba"]
            vocab = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(20_000)]
            weights = [1 / (i + 1) for i in range(len(vocab))]
            words = rng.choices(vocab, weights, k=100_000)
        self.words = words
        self.successors: dict[str, list[str]] = {}
        for a, b in zip(words, words[1:], strict=False):
            self.successors.setdefault(a, []).append(b)
        self.names = [w for w in set(words) if w[:1].isupper() and len(w) > 3] or ["Lee", "Kim", "Tanaka"]
        counts: dict[str, int] = {}
        for w in words:
            key = w.lower()
            counts[key] = counts.get(key, 0) + 1
        self.by_rank = [w for w, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if w.isalpha() and len(w) > 2]
        self.bigrams = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a.isalpha() and b.isalpha()]

    def sentence(self) -> str:
        rng = self.rng
        w = rng.choice(self.words)
        out = [w.capitalize()]
        for _ in range(rng.randint(12, 28)):
            nxt = self.successors.get(w)
            w = rng.choice(nxt) if nxt else rng.choice(self.words)
            if rng.random() < 0.03:
                w = rng.choice(self.names) if rng.random() < 0.6 else str(rng.randint(2, 2030))
            out.append(w)
        return " ".join(out) + "."

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 4)))

    def article(self) -> tuple[str, list[str]]:
        paragraphs = [self.paragraph() for _ in range(self.rng.randint(6, 14))]
        return " ".join(paragraphs[0].split()[:9]).rstrip(".,"), paragraphs


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


class Bench:
    def __init__(self, store: Store, gen: Generator, probes: int) -> None:
        self.store = store
        self.gen = gen
        self.rng = gen.rng
        self.probes = probes
        self.rows = 0
        self.recent: list[tuple[int, str, list[str]]] = []  # (story id, title, paragraphs) of recent inserts
        self.copies = self.copies_joined = self.exacts = self.exacts_joined = self.news = 0

    def insert(self, n: int) -> float:
        """Insert ``n`` articles; returns the seconds spent in save_article."""
        spent = 0.0
        for _ in range(n):
            self.rows += 1
            source, url = self.rng.choice(SOURCES), f"https://news{self.rows % 97}.example/a/{self.rows}"
            roll = self.rng.random()
            kind = "new"
            if self.recent and roll < COPY_SHARE:
                story, title, paragraphs = self.rng.choice(self.recent)
                src = self.rng.choice(SOURCES)
                paragraphs = [self.gen.paragraph(), *paragraphs[1:], REPUBLISHED.format(src=src)]
                kind = "copy"
            elif self.recent and roll < COPY_SHARE + EXACT_SHARE:
                story, title, paragraphs = self.rng.choice(self.recent)
                kind = "exact"
            else:
                title, paragraphs = self.gen.article()
            article = Article(url=url, title=title, paragraphs=paragraphs)
            seconds, result = timed(lambda a=article, s=source, u=url: self.store.save_article(
                source=s, article=a, fetched_url=u, matches=[], routes={}))
            spent += seconds
            if kind == "new":
                self.news += 1
                self.recent.append((result.story_id, title, paragraphs))
                if len(self.recent) > 2000:
                    self.recent.pop(self.rng.randrange(len(self.recent)))
            elif kind == "copy":
                self.copies += 1
                self.copies_joined += result.story_id == story
            else:
                self.exacts += 1
                self.exacts_joined += result.story_id == story
        return spent

    def _copy_of(self, article_id: int) -> tuple[int, str] | None:
        row = self.store.one("SELECT story_id, text FROM articles WHERE id = ?", [article_id])
        if not row or not row["text"]:
            return None
        paragraphs = row["text"].split("\n\n")
        return row["story_id"], "\n\n".join([self.gen.paragraph(), *paragraphs[1:],
                                              REPUBLISHED.format(src="Bench Wire")])

    def dedup_probes(self, peer: Store | None) -> dict[str, Any]:
        """Lookups for near-copies and unseen articles. With ``peer`` (the database as it was at 1k
        rows), the same probes (copies of the first 1k articles, present in both, and unseen ones)
        run on both, interleaved, so the ratio is measured at one moment of machine load."""
        copies = [c for c in (self._copy_of(self.rng.randint(1, self.rows)) for _ in range(self.probes)) if c]
        fresh = ["\n\n".join(self.gen.article()[1]) for _ in range(self.probes)]
        times, found, false_joins = [], 0, 0
        for story, body in copies:
            seconds, match = timed(lambda b=body: self.store.find_story(b, "probe"))
            times.append(seconds)
            found += match is not None and match.story_id == story
        for body in fresh:
            seconds, match = timed(lambda b=body: self.store.find_story(b, "probe"))
            times.append(seconds)
            false_joins += match is not None
        out: dict[str, Any] = {"median_ms": statistics.median(times) * 1e3, "p99_ms": pct(times, 0.99) * 1e3,
                               "copies_found": found, "copies": len(copies), "false_joins": false_joins,
                               "fresh": len(fresh)}
        if peer is not None:
            shared = [c for c in (self._copy_of(self.rng.randint(1, CHECKPOINTS[0])) for _ in range(self.probes)) if c]
            bodies = [b for _s, b in shared] + fresh
            big, small = [], []
            for i, body in enumerate(bodies):
                dedup.simhash(dedup.strip_boilerplate(body))  # warm the word-hash cache for both alike
                pair = [(big, self.store), (small, peer)]
                for times_, db in pair if i % 2 else pair[::-1]:  # alternate which goes first
                    times_.append(timed(lambda b=body, d=db: d.find_story(b, "probe"))[0])
            out["vs_1k"] = {"median_ms": statistics.median(big) * 1e3, "p99_ms": pct(big, 0.99) * 1e3,
                            "peer_median_ms": statistics.median(small) * 1e3, "peer_p99_ms": pct(small, 0.99) * 1e3,
                            "ratio": statistics.median(big) / statistics.median(small),
                            "p99_ratio": pct(big, 0.99) / pct(small, 0.99)}
        scan = [timed(lambda b=body: scan_peer(self.store, b))[0] for _story, body in copies[:20]]
        out["scan_peer_median_ms"] = statistics.median(scan) * 1e3 if scan else None
        return out

    def search_probes(self) -> dict[str, Any]:
        g, rng = self.gen, self.rng
        ranks = g.by_rank
        kinds: dict[str, Callable[[], str]] = {
            "rare word": lambda: rng.choice(ranks[3000:6000] or ranks),
            "medium word": lambda: rng.choice(ranks[300:1000] or ranks),
            "frequent word": lambda: rng.choice(ranks[20:100] or ranks),
            "two words": lambda: f"{rng.choice(ranks[100:2000])} {rng.choice(ranks[100:2000])}",
            "phrase": lambda: '"' + rng.choice(g.bigrams) + '"',
            "prefix": lambda: rng.choice([w for w in ranks[200:3000] if len(w) > 5])[:4] + "*",
        }
        per_kind: dict[str, float] = {}
        per_kind_story: dict[str, float] = {}
        every: list[float] = []
        every_story: list[float] = []
        for name, make in kinds.items():
            times, story_times = [], []
            for i in range(10):  # the same query both ways, alternating which goes first
                query = make()
                pair = [(times, False), (story_times, True)]
                for out, by_story in pair if i % 2 else pair[::-1]:
                    seconds, _hits = timed(lambda q=query, b=by_story: search(self.store, q, limit=20, by_story=b))
                    out.append(seconds)
            per_kind[name] = statistics.median(times) * 1e3
            per_kind_story[name] = statistics.median(story_times) * 1e3
            every += times
            every_story += story_times
        return {"median_ms": statistics.median(every) * 1e3, "p99_ms": pct(every, 0.99) * 1e3,
                "per_kind_median_ms": per_kind,
                "by_story_median_ms": statistics.median(every_story) * 1e3,
                "by_story_p99_ms": pct(every_story, 0.99) * 1e3, "by_story_per_kind_median_ms": per_kind_story}

    def size(self) -> dict[str, Any]:
        self.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        total = os.path.getsize(self.store.path) + (os.path.getsize(self.store.path + "-wal")
                                                   if os.path.exists(self.store.path + "-wal") else 0)
        out: dict[str, Any] = {"bytes": total, "bytes_per_article": total / self.rows}
        try:
            parts = {r[0]: r[1] for r in self.store.conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")}
        except Exception:  # noqa: BLE001 - dbstat is an optional SQLite build feature
            return out
        groups = {"text and metadata (articles)": ("articles",), "full-text index": ("articles_fts_",),
                  "dedup index": ("simhash_bands", "paragraph_hashes", "article_urls", "sqlite_autoindex_article"),
                  "other indexes": ("articles_", "sqlite_autoindex_articles")}
        shares: dict[str, int] = {}
        for name, size in parts.items():
            for group, prefixes in groups.items():
                if name in prefixes or any(name.startswith(p) for p in prefixes if p.endswith("_")):
                    shares[group] = shares.get(group, 0) + size
                    break
            else:
                shares["other tables"] = shares.get("other tables", 0) + size
        out["per_article_by_part"] = {k: v / self.rows for k, v in shares.items()}
        return out


def scan_peer(store: Store, body: str) -> list[int]:
    """The index-free way: read every stored SimHash and compare (what the band index avoids)."""
    mine = dedup.simhash(dedup.strip_boilerplate(body))
    return [r[0] for r in store.conn.execute("SELECT id, simhash FROM articles")
            if dedup.hamming(mine, r[1] or 0) <= dedup.NEAR_DUP_MAX_BITS]


def export_memory(store: Store) -> dict[str, float]:
    class Null:
        def write(self, _s: str) -> int:
            return 0

    out = {}
    for n in (1_000, 20_000):
        tracemalloc.start()
        write_export(islice(export_rows(store), n), Null(), "jsonl")
        out[f"{n} rows"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--db", help="database file to build (default: a temporary one, removed after)")
    ap.add_argument("--seed", type=int, default=20260103)
    args = ap.parse_args(argv)
    workdir = None
    if args.db:
        path = Path(args.db)
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix="bench-store-")
        path = Path(workdir) / "bench.db"
    rng = random.Random(args.seed)
    gen = Generator(rng)
    sizes = sorted({*(c for c in CHECKPOINTS if c <= args.rows), args.rows})
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    print(f"corpus: {'extraction-dev bodies' if CORPUS.exists() else 'synthetic'}; {args.rows:,} rows; db {path}",
          flush=True)
    peer_path = Path(str(path) + ".1k")
    peer: Store | None = None
    with Store.open(path) as store:
        bench = Bench(store, gen, args.probes)
        for size in sizes:
            added = size - bench.rows
            spent = bench.insert(added)
            if peer is None and bench.rows >= CHECKPOINTS[0]:  # the 1k peer: a copy of the database now
                peer_path.unlink(missing_ok=True)
                copy = sqlite3.connect(peer_path)
                store.conn.backup(copy)
                copy.close()
                peer = Store.open(peer_path)
            row: dict[str, Any] = {"rows": size, "inserts_per_s": added / spent if spent else None}
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # measure the database, not a long WAL
            row["dedup"] = bench.dedup_probes(peer)
            row["search"] = bench.search_probes()
            row.update(bench.size())
            row["elapsed_s"] = time.perf_counter() - started
            results.append(row)
            d, s = row["dedup"], row["search"]
            vs = d.get("vs_1k", {})
            print(f"{size:>8,} rows: {row['inserts_per_s']:7.0f} inserts/s | dedup median {d['median_ms']:.2f} ms, "
                  f"p99 {d['p99_ms']:.2f} ms, {vs.get('ratio', 1):.2f}x the 1k peer "
                  f"({d['copies_found']}/{d['copies']} copies found, "
                  f"{d['false_joins']} false joins; scan peer {d['scan_peer_median_ms']:.1f} ms) | search median "
                  f"{s['median_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms (by story {s['by_story_median_ms']:.1f} / "
                  f"{s['by_story_p99_ms']:.1f} ms) | {row['bytes_per_article']:,.0f} bytes/article "
                  f"| {row['elapsed_s']:.0f} s", flush=True)
        memory = export_memory(store)
        stories = int(store.conn.execute("SELECT count(*) FROM stories").fetchone()[0])
    if peer is not None:
        peer.close()
    last = results[-1]
    if "vs_1k" in last["dedup"]:
        ratio, p99_ratio = last["dedup"]["vs_1k"]["ratio"], last["dedup"]["vs_1k"]["p99_ratio"]
    else:  # fewer than 1k rows: no peer
        ratio, p99_ratio = 1.0, 1.0
    print()
    print(table(results))
    print(f"\ncopies inserted: {bench.copies:,}, joined their story: {bench.copies_joined:,}; exact copies: "
          f"{bench.exacts:,}, joined: {bench.exacts_joined:,}")
    expected = bench.news + (bench.copies - bench.copies_joined) + (bench.exacts - bench.exacts_joined)
    false_joins = expected - stories
    print(f"stories: {stories:,} for {bench.news:,} distinct generated articles and "
          f"{expected - bench.news:,} missed copies: {false_joins:,} distinct articles wrongly joined a story")
    print("export peak Python memory: " + ", ".join(f"{k}: {v:.2f} MB" for k, v in memory.items()))
    verdict = ratio < LIMIT
    print(f"dedup median at {last['rows']:,} rows / on the 1k-row peer, same probes: {ratio:.2f}x (p99: {p99_ratio:.2f}x); "
          f"limit {LIMIT}x: {'ok' if verdict else 'FAILED'}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "rows": args.rows, "probes": args.probes, "seed": args.seed, "checkpoints": results,
            "copies": {"inserted": bench.copies, "joined": bench.copies_joined, "exact": bench.exacts,
                       "exact_joined": bench.exacts_joined},
            "stories": stories, "distinct_articles": bench.news, "false_joins_on_insert": false_joins,
            "export_peak_mb": memory, "dedup_ratio": ratio, "dedup_p99_ratio": p99_ratio, "limit": LIMIT,
            "ok": verdict}, indent=2), "utf-8")
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        peer_path.unlink(missing_ok=True)
    return 0 if verdict else 1


def table(results: list[dict[str, Any]]) -> str:
    head = ("rows", "inserts/s", "dedup med ms", "dedup p99 ms", "vs 1k peer (med, p99)", "scan peer ms",
            "search med ms", "search p99 ms", "bytes/article")
    lines = [" | ".join(head), " | ".join("-" * len(h) for h in head)]
    for r in results:
        lines.append(" | ".join([
            f"{r['rows']:,}", f"{r['inserts_per_s']:.0f}", f"{r['dedup']['median_ms']:.2f}",
            f"{r['dedup']['p99_ms']:.2f}",
            f"{r['dedup']['vs_1k']['ratio']:.2f}x, {r['dedup']['vs_1k']['p99_ratio']:.2f}x" if "vs_1k" in r["dedup"]
            else "-", f"{r['dedup']['scan_peer_median_ms']:.1f}",
            f"{r['search']['median_ms']:.1f}", f"{r['search']['p99_ms']:.1f}", f"{r['bytes_per_article']:,.0f}"]))
    kinds = results[-1]["search"]["per_kind_median_ms"]
    lines.append("")
    lines.append(f"search median per kind at {results[-1]['rows']:,} rows: "
                 + ", ".join(f"{k} {v:.1f} ms" for k, v in kinds.items()))
    story_kinds = results[-1]["search"]["by_story_per_kind_median_ms"]
    lines.append("the same queries by story (--by-story): "
                 + ", ".join(f"{k} {v:.1f} ms" for k, v in story_kinds.items()))
    if "per_article_by_part" in results[-1]:
        lines.append("bytes/article by part: " + ", ".join(
            f"{k} {v:,.0f}" for k, v in sorted(results[-1]["per_article_by_part"].items(), key=lambda kv: -kv[1])))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
