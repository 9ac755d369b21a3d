"""The edge database: one writer thread, a small pool of reader connections."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from common.errors import StorageError
from common.sqlitecopy import online_copy
from sync.hlc import DEFAULT_MAX_DRIFT_MS

from edge.db import migrations, outbox
from edge.db.connection import DB_FILE, open_reader, open_writer, translate
from edge.db.group_commit import DbWriter, run_once
from edge.db.outbox import oldest_pending_at

T = TypeVar("T")


def db_path(data_dir: Path) -> Path:
    return data_dir / DB_FILE


def write_once(path: Path, store_id: str, fn: Callable[..., T], *args: Any) -> T:
    """Run one write job in its own short transaction from another process (a CLI command
    beside a serving daemon): ``fn(tx, *args)``, its events in the outbox."""
    if not path.exists():
        raise FileNotFoundError(f"no store database at {path}: run `storenode init` first")
    conn = open_writer(path)
    try:
        result: T = run_once(conn, store_id, fn, *args)
        return result
    finally:
        conn.close()


def migrate(path: Path) -> list[str]:
    conn = open_writer(path)
    try:
        return migrations.migrate(conn)
    finally:
        conn.close()


class Database:
    def __init__(
        self,
        path: Path,
        store_id: str,
        *,
        readers: int = 4,
        max_batch: int = 64,
        on_commit: Callable[[list[dict[str, Any]]], None] | None = None,
        max_drift_ms: int = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        self.path = path
        self.store_id = store_id
        self.acked_seq = 0
        self.writer = DbWriter(path, store_id, max_batch=max_batch, on_commit=on_commit,
                               max_drift_ms=max_drift_ms)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="storenode-db-read")

    def start(self) -> None:
        conn = open_reader(self.path)
        try:
            self.acked_seq = outbox.sync_counters(conn)["applied_seq"]
        finally:
            conn.close()
        self.writer.start()

    async def oldest_pending_at(self) -> str | None:
        """When the oldest event HQ has not acknowledged was committed (None: none)."""
        if self.writer.outbox.last_seq <= self.acked_seq:
            return None
        return await self.read(oldest_pending_at, self.acked_seq)

    def sync_counters(self) -> dict[str, int]:
        last = self.writer.outbox.last_seq
        return {"last_seq": last, "applied_seq": self.acked_seq,
                "pending": last - self.acked_seq}

    def close(self) -> None:
        self.writer.stop()
        self._pool.shutdown(wait=True)
        for conn in self._readers:
            conn.close()

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.writer.submit(fn, *args)  # type: ignore[no-any-return]

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_read, fn, args, kwargs)

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...], kw: dict[str, Any]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = open_reader(self.path)
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        try:
            return fn(conn, *args, **kw)
        except sqlite3.Error as exc:
            raise translate(exc) from exc


def check_integrity(path: Path) -> list[str]:
    """``PRAGMA integrity_check``: ``["ok"]`` when the file is sound."""
    if not path.exists():
        raise StorageError(f"no database at {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def backup(path: Path, target: Path) -> int:
    """Online backup (SQLite backup API) to ``target``; returns its size in bytes."""
    return online_copy(path, target)
