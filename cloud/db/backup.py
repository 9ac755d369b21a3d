"""HQ's own backup, for the SQLite default: SQLite's online backup API, safe while HQ serves
and ingests. PostgreSQL is backed up with its own tools (base backups and WAL archiving, or
pg_dump on a timer: docs/operations.md)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from cloud.db.backend import sqlite_file
from common.sqlitecopy import online_copy


class NotSqlite(ValueError):
    """HQ runs on PostgreSQL: use its tools."""


def sqlite_path(url: str) -> Path:
    raw = sqlite_file(url)
    if raw is None:
        raise NotSqlite("HQ runs on PostgreSQL: back it up with pg_basebackup and WAL archiving, "
                        "or pg_dump on a timer (docs/operations.md)")
    return Path("/" + raw.lstrip("/")) if raw.startswith("/") else Path(raw)  # sqlite:////abs


def backup_sqlite(url: str, target: Path) -> dict[str, object]:
    """An online copy of HQ's SQLite database to ``target`` (never overwritten)."""
    source = sqlite_path(url)
    if not source.exists():
        raise FileNotFoundError(f"no HQ database at {source}")
    size = online_copy(source, target, pages=4096)
    with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as copy:
        ok = copy.execute("PRAGMA integrity_check").fetchone()[0]
    return {"backup": str(target), "bytes": size, "integrity": ok}
