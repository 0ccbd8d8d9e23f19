"""Writes in batches: one ``BEGIN IMMEDIATE ... COMMIT`` for many articles and fetch records.

A COMMIT costs more than storing one article, and the pipeline stores hundreds a second. The
pipeline hands each write to a :class:`BatchWriter` as a function of no arguments; the writer runs
the queued functions in order, each in its own savepoint, in one transaction, once
``articles`` articles are queued or ``delay`` seconds (0.25) after the first write of a batch, or when
asked (:meth:`BatchWriter.flush`, at the end of a source's run). The work done under the lock is
only the database's: fingerprints, extraction and matching happen before a write is queued.

Every function of a batch sees the rows the earlier ones wrote (the same transaction), and the
batch sees what other processes committed before it began (``BEGIN IMMEDIATE`` waits for their
write lock), so story and alert deduplication hold across processes. A function that raises
leaves nothing behind (its savepoint is rolled back) and its future carries the exception; the
others are committed. When the transaction itself fails (the lock is not had within the busy
timeout, the disk is full), nothing of the batch is written and every future says why.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .errors import StoreError
from .store import Store

__all__ = ["BatchWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter:
    """Queue writes (:meth:`submit`, :meth:`defer`); they are applied in batches on the event loop.

    A batch that falls due while another process holds the write lock does not wait for it (that
    would stop this process's event loop, fetches included): it is tried again a few milliseconds
    later, growing meanwhile, and waited for only when :meth:`flush` is called, when ``max_ops``
    writes are queued, or once the store's busy timeout has passed."""

    RETRY = 0.005  # seconds between tries while another process holds the lock

    def __init__(self, store: Store, *, articles: int = 50, delay: float = 0.25, max_ops: int = 2000) -> None:
        self.store = store
        self.articles = articles
        self.delay = delay
        self.max_ops = max_ops
        self._ops: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._queued_articles = 0
        self._timer: asyncio.TimerHandle | None = None
        self._busy_since: float | None = None  # monotonic time of the first try that found the lock taken
        self.batches = 0  # transactions committed (for tests and metrics)
        self.busy = 0  # tries that found the lock taken

    def __len__(self) -> int:
        return len(self._ops)

    def submit(self, op: Callable[[], T], *, article: bool = False) -> asyncio.Future[T]:
        """Queue ``op`` (run later inside the batch's transaction); the future gets its result once
        the batch is committed. ``article``: it stores an article (counts toward the batch size)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ops.append((op, future))
        if article:
            self._queued_articles += 1
        if len(self._ops) >= self.max_ops:
            self.flush()
        elif self._queued_articles >= self.articles and self._busy_since is None:
            self._due()
        elif self._timer is None:
            self._timer = loop.call_later(self.delay, self._due)
        return future

    def defer(self, op: Callable[[], object], what: str, extra: Mapping[str, object] | None = None) -> None:
        """Queue ``op`` without waiting for it; a failure is logged (``what`` names the write)."""

        def done(future: asyncio.Future[object]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.error("could not store %s: %s", what, future.exception(), extra=dict(extra or {}))

        self.submit(op).add_done_callback(done)

    def _due(self) -> None:
        """A batch fell due: apply it if the lock is free, else try again shortly."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waited = time.monotonic() - self._busy_since if self._busy_since is not None else 0.0
        if not self._apply(wait=waited >= self.store.busy_timeout):
            self.busy += 1
            if self._busy_since is None:
                self._busy_since = time.monotonic()
            self._timer = asyncio.get_running_loop().call_later(self.RETRY, self._due)

    def flush(self) -> None:
        """Apply everything queued now, in one transaction, waiting for the lock if another process
        holds it (nothing to do when the queue is empty)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._apply(wait=True)

    def _apply(self, *, wait: bool) -> bool:
        """One transaction for everything queued; False when ``wait`` is false and the lock is taken."""
        if not self._ops:
            self._busy_since = None
            return True
        conn = self.store.conn
        if not wait:
            if not self.store.try_begin_write():
                return False
            began = True
        else:
            began = False
        ops, self._ops, self._queued_articles, self._busy_since = self._ops, [], 0, None
        results: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            with self.store.write() if not began else self.store.continue_write():
                for op, future in ops:
                    try:
                        with self.store.write():  # a savepoint: a failing op leaves nothing behind
                            results.append((future, op(), None))
                    except Exception as exc:  # noqa: BLE001 - handed to whoever waits for this write
                        results.append((future, None, exc))
                    if not conn.in_transaction:  # an error that ends the whole transaction (SQLITE_FULL...)
                        raise StoreError(f"{self.store.path}: a batch of writes was rolled back: "
                                         f"{results[-1][2] or 'the transaction ended'}")
        except (StoreError, sqlite3.Error) as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = exc if isinstance(exc, StoreError) else StoreError(f"{self.store.path}: {exc}")
            log.error("%s (%d writes lost; their pages are fetched again next run)", error, len(ops),
                      extra={"db": self.store.path})
            for _op, future in ops:
                if not future.done():
                    future.set_exception(error)
            return True
        self.batches += 1
        for future, value, failure in results:
            if future.done():  # its waiter was cancelled; the write stands
                continue
            if failure is None:
                future.set_result(value)
            else:
                future.set_exception(failure)
        return True
