"""One writer thread with group commit.

Every write is a function ``fn(tx, *args)`` run on the writer thread. Jobs that
arrive together share one transaction and one fsync: each job runs inside its
own SAVEPOINT so a refused job rolls back alone, then the batch commits once.
Callers are only answered after COMMIT returned, so an acknowledged write is on
disk (WAL + synchronous=FULL).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from common.errors import StorageError
from sync.hlc import DEFAULT_MAX_DRIFT_MS, HybridLogicalClock

from edge.db.connection import open_writer, translate
from edge.db.outbox import Outbox
from edge.db.stockcache import StockCache

log = logging.getLogger(__name__)

_STOP = object()
ERASED = "member.erased"  # edge/members/erasure.py


@dataclass
class Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


@dataclass
class Tx:
    """What a write job sees: the connection and an outbox to emit events into."""

    conn: sqlite3.Connection
    outbox: Outbox
    events: list[dict[str, Any]] = field(default_factory=list)
    cursor: InitVar[sqlite3.Cursor | None] = None
    # the writer's, kept between order creates; a one-off job gets an empty one
    cache: StockCache = field(default_factory=StockCache)
    # for the hot path: conn.execute makes (and registers) a new cursor on every call
    cur: sqlite3.Cursor = field(init=False)

    def __post_init__(self, cursor: sqlite3.Cursor | None) -> None:
        self.cur = cursor or self.conn.cursor()

    def emit(self, type_: str, data: dict[str, Any], *, at: str | None = None,
             encoded: str | None = None) -> dict[str, Any]:
        event = self.outbox.append(self.cur, type_, data, at=at, encoded=encoded)
        self.events.append(event)
        return event


class DbWriter:
    def __init__(
        self,
        path: Path,
        store_id: str,
        *,
        max_batch: int = 64,
        on_commit: Callable[[list[dict[str, Any]]], None] | None = None,
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        self.path = path
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._conn = open_writer(path)
        # The per-job SAVEPOINTs of a batch share one statement journal; past 64 KiB SQLite
        # spills it to a temp file (~40 pwrite calls an order). It only ever holds undo data
        # for the open transaction, so keep it in memory.
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self.outbox = Outbox(store_id, HybridLogicalClock(max_drift_ms=max_drift_ms), self._conn)
        self._cur = self._conn.cursor()  # jobs' statements are run one at a time: one cursor
        self.cache = StockCache()  # what order creates read of catalog and stock (stockcache.py)
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="storenode-db-writer", daemon=True)
        self.commits = 0
        self.jobs_done = 0

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    async def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._thread.is_alive():

            raise StorageError("database writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(Job(fn, args, future, loop))
        return await future

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._conn.close()

    # -- writer thread -------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            self._top_up(batch)
            self._run_batch(batch)

    def _top_up(self, batch: list[Job]) -> None:
        """Move queued jobs into ``batch``, up to ``max_batch`` (a stop request stays queued)."""
        while len(batch) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return
            if nxt is _STOP:
                self._queue.put(_STOP)
                return
            batch.append(nxt)

    def _run_batch(self, batch: list[Job]) -> None:
        conn = self._conn
        outcomes: list[tuple[Job, bool, Any]] = []
        events: list[dict[str, Any]] = []
        seq_before = self.outbox.last_seq
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.cache.check_version(conn)
            self.outbox.reload(conn)
            seq_before = self.outbox.last_seq
            done = 0
            while done < len(batch):
                outcomes.append(self._run_job(batch[done], events))
                done += 1
                if done == len(batch):  # jobs that came in meanwhile share this commit
                    self._top_up(batch)
            if self.outbox.last_seq != seq_before:
                self.outbox.save_counter(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("commit of %d jobs failed: %s", len(batch), exc)
            self.last_error = str(exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.outbox.last_seq = seq_before
            self.cache.clear()
            error = translate(exc)
            _resolve_all([(job, False, error) for job in batch])
            return
        self.commits += 1
        self.jobs_done += len(batch)
        self.last_error = None
        if any(e["type"] == ERASED for e in events):
            # a member erased: the WAL still holds the pages as they were; fold it into the
            # file (secure_delete zeroed what was freed there) and empty it
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("checkpoint after an erasure failed: %s", exc)
        if events and self.on_commit is not None:
            self.on_commit(events)
        _resolve_all(outcomes)

    def _run_job(self, job: Job, events: list[dict[str, Any]]) -> tuple[Job, bool, Any]:
        conn = self._conn
        seq_before = self.outbox.last_seq
        if not getattr(job.fn, "keeps_stock_cache", False):
            self.cache.clear()  # it may change items, stock or quotas behind the cache
        tx = Tx(conn, self.outbox, cursor=self._cur, cache=self.cache)
        self._cur.execute("SAVEPOINT job")
        try:
            result = job.fn(tx, *job.args)
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                return self._undo_job(job, seq_before, exc)
            raise  # storage failure (disk full, I/O, read-only): the whole batch fails
        except Exception as exc:  # refused by the rules: roll back this job alone
            return self._undo_job(job, seq_before, exc)
        self._cur.execute("RELEASE job")
        events.extend(tx.events)
        return job, True, result

    def _undo_job(self, job: Job, seq_before: int, exc: Exception) -> tuple[Job, bool, Any]:
        self._conn.execute("ROLLBACK TO job")
        self._conn.execute("RELEASE job")
        self.outbox.last_seq = seq_before
        self.cache.clear()  # it may hold what the job wrote and took back
        return job, False, exc


def _resolve_all(outcomes: list[tuple[Job, bool, Any]]) -> None:
    """Answer a batch's callers: one wake-up per event loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job, bool, Any]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, group in by_loop.items():
        try:
            loop.call_soon_threadsafe(_deliver, group)
        except RuntimeError:  # loop closed: the callers are gone
            pass


def _deliver(outcomes: list[tuple[Job, bool, Any]]) -> None:
    for job, ok, value in outcomes:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


def run_once(conn: sqlite3.Connection, store_id: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run one write job synchronously on ``conn`` (CLI use, daemon may be running)."""
    outbox = Outbox(store_id, HybridLogicalClock(), conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        outbox.reload(conn)
        before = outbox.last_seq
        result = fn(Tx(conn, outbox), *args)
        if outbox.last_seq != before:
            outbox.save_counter(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result
