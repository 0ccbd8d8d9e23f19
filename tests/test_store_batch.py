"""Writes in batches (store_batch.BatchWriter) and fingerprints worked out before the write lock,
on a real SQLite file: many articles per transaction, a failing write leaves nothing behind, a
batch that cannot get the lock loses nothing silently, and two connections writing batches of
copies of one story keep one story and one alert."""

from __future__ import annotations

import asyncio
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.errors import StoreError
from monitor.models import Article, Match
from monitor.store import Store
from monitor.store_batch import BatchWriter
from monitor.store_index import Fingerprint

from .test_dedup import SEED_PARAGRAPHS, SEED_TITLE, SYNDICATED_PARAGRAPHS

ROUTES = {"mou": ["hook"]}


def article(i: int, paragraphs: list[str] | None = None, title: str | None = None) -> Article:
    body = paragraphs or [f"Paragraph {k} of story number {i}, which says something of its own about item {i}."
                          for k in range(4)]
    return Article(url=f"https://news.example/{i}", title=title or f"Story {i}", paragraphs=list(body))


def saver(store: Store, a: Article, *, topics: tuple[str, ...] = ()) -> Any:
    return partial(store.save_article, source="s", article=a, fetched_url=a.url or "", routes=ROUTES,
                   matches=[Match(t, (), 1) for t in topics], fingerprint=store.fingerprint(a))


def count(path: Path, table: str) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


def test_fifty_articles_are_one_transaction_and_results_come_after_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path) as store:
        async def go() -> list[Any]:
            writes = BatchWriter(store, articles=50, delay=10)
            futures = [writes.submit(saver(store, article(i)), article=True) for i in range(49)]
            assert not any(f.done() for f in futures) and count(path, "articles") == 0  # queued, not written
            futures.append(writes.submit(saver(store, article(49)), article=True))  # the 50th: one commit
            assert writes.batches == 1 and count(path, "articles") == 50
            return [await f for f in futures]

        results = asyncio.run(go())
    assert [r.status for r in results] == ["new"] * 50
    assert len({r.article_id for r in results}) == 50


def test_the_delay_flushes_a_small_batch(tmp_path: Path) -> None:
    with Store.open(tmp_path / "m.db") as store:
        async def go() -> Any:
            writes = BatchWriter(store, articles=50, delay=0.05)
            return await asyncio.wait_for(writes.submit(saver(store, article(1)), article=True), 2)

        assert asyncio.run(go()).status == "new"


def test_a_failing_write_leaves_nothing_and_the_others_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with Store.open(path) as store:
        def half_then_fail() -> None:
            store.db.execute("INSERT INTO stories (title, created) VALUES ('orphan', 'now')")
            raise RuntimeError("broken on purpose")

        async def go() -> tuple[Any, ...]:
            writes = BatchWriter(store, delay=10)
            first = writes.submit(saver(store, article(1)), article=True)
            bad = writes.submit(half_then_fail)
            last = writes.submit(saver(store, article(2)), article=True)
            writes.flush()
            return await asyncio.gather(first, bad, last, return_exceptions=True)

        first, bad, last = asyncio.run(go())
    assert first.status == last.status == "new"
    assert isinstance(bad, RuntimeError)
    assert count(path, "articles") == 2 and count(path, "stories") == 2  # no orphan story


def test_a_batch_that_cannot_get_the_lock_fails_every_write_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with Store.open(path, busy_timeout=0.2, migrate=False) as store:
            async def go() -> list[Any]:
                writes = BatchWriter(store, delay=10)
                futures = [writes.submit(saver(store, article(i)), article=True) for i in range(3)]
                writes.flush()
                return await asyncio.gather(*futures, return_exceptions=True)

            results = asyncio.run(go())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(isinstance(r, StoreError) and "cannot begin a write" in str(r) for r in results)
    assert count(path, "articles") == 0


def test_two_connections_writing_batches_of_copies_keep_one_story_and_one_alert(tmp_path: Path) -> None:
    """Each batch is one BEGIN IMMEDIATE transaction: it sees what the other connection committed,
    and within it each save sees the earlier ones."""
    path = tmp_path / "m.db"
    Store.open(path).close()
    original = article(100, list(SEED_PARAGRAPHS), SEED_TITLE)
    copies = [article(101 + i, list(SYNDICATED_PARAGRAPHS), SEED_TITLE + " (wire)") for i in range(3)]
    with Store.open(path, migrate=False) as one, Store.open(path, migrate=False) as two:
        async def go() -> list[Any]:
            a, b = BatchWriter(one, delay=10), BatchWriter(two, delay=10)
            futures = [a.submit(saver(one, original, topics=("mou",)), article=True),
                       a.submit(saver(one, copies[0], topics=("mou",)), article=True),
                       b.submit(saver(two, copies[1], topics=("mou",)), article=True),
                       b.submit(saver(two, copies[2], topics=("mou",)), article=True)]
            b.flush()  # the second connection commits first
            a.flush()
            return list(await asyncio.gather(*futures))

        results = asyncio.run(go())
    assert len({r.story_id for r in results}) == 1
    assert sum(r.alerts for r in results) == 1
    assert count(path, "alerts") == 1


def test_an_exact_copy_s_fingerprint_is_read_not_worked_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store.open(tmp_path / "m.db") as store:
        first = article(1, list(SEED_PARAGRAPHS), SEED_TITLE)
        computed = store.fingerprint(first)
        want = Fingerprint.of(first.title, first.text)
        assert (computed.content_hash, computed.simhash, computed.para_hashes, computed.stripped) == \
            (want.content_hash, want.simhash, want.para_hashes, want.stripped)
        store.save_article(source="s", article=first, fetched_url="https://a.example/1", matches=[], routes={},
                           fingerprint=computed)
        from monitor import dedup

        def refuse(*_a: Any) -> Any:
            raise AssertionError("worked out again")

        monkeypatch.setattr(dedup, "index_fingerprint", refuse)
        copy = article(2, list(SEED_PARAGRAPHS), SEED_TITLE)
        read = store.fingerprint(copy)
        assert (read.content_hash, read.simhash, read.para_hashes, read.stripped) == \
            (want.content_hash, want.simhash, want.para_hashes, want.stripped)
        result = store.save_article(source="s", article=copy, fetched_url="https://b.example/2", matches=[],
                                    routes={}, fingerprint=read)
        assert result.status == "new" and result.story_id == 1
        with pytest.raises(AssertionError, match="worked out again"):  # another text is worked out
            store.fingerprint(article(3, list(SYNDICATED_PARAGRAPHS), SEED_TITLE))


def test_a_batch_due_while_another_process_writes_waits_without_stopping_the_loop(tmp_path: Path) -> None:
    """The loop goes on (fetches, extraction) while the other writer holds the lock; the batch is
    applied as soon as the lock is free, with whatever was queued meanwhile."""
    path = tmp_path / "m.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with Store.open(path, migrate=False) as store:
        async def go() -> tuple[int, int, list[Any]]:
            writes = BatchWriter(store, articles=2, delay=10)
            futures = [writes.submit(saver(store, article(i)), article=True) for i in range(2)]  # due now
            ticks = 0
            for _ in range(10):  # the loop is not blocked: these sleeps run while the batch waits
                await asyncio.sleep(0.01)
                ticks += 1
            assert not any(f.done() for f in futures) and writes.busy > 0
            futures.append(writes.submit(saver(store, article(2)), article=True))  # joins the waiting batch
            holder.execute("ROLLBACK")
            results = await asyncio.wait_for(asyncio.gather(*futures), 2)
            return ticks, writes.batches, results

        ticks, batches, results = asyncio.run(go())
    holder.close()
    assert ticks == 10 and batches == 1
    assert [r.status for r in results] == ["new"] * 3
