"""An online copy of a SQLite database (SQLite's backup API: safe while the service writes),
used by the edge's and HQ's backup commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def online_copy(source: Path, target: Path, pages: int = 1024) -> int:
    """Copy ``source`` to ``target`` (never overwritten); the copy's size in bytes."""
    if target.exists():
        raise FileExistsError(f"{target} exists; refusing to overwrite")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=pages)
    finally:
        dst.close()
        src.close()
    return target.stat().st_size
