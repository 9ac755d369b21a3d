"""``storenode db export``: one table of the live database as CSV or JSON lines, for a
technician or an accountant, read through sqlite-utils on a read-only connection (safe while
the daemon runs: WAL readers never block the writer)."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import sqlite_utils

# columns never exported: a PIN hash or a key's digest is a credential, not data
HIDDEN: dict[str, frozenset[str]] = {"staff": frozenset({"pin_hash"}),
                                     "scrape_keys": frozenset({"secret_hash"})}
FORMATS = ("csv", "json")


class UnknownTable(LookupError):
    pass


def _rows(path: Path, table: str) -> tuple[list[str], Iterator[dict[str, Any]], sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db = sqlite_utils.Database(conn)
    names = [n for n in db.table_names() if not n.startswith(("_", "sqlite_"))]
    if table not in names:
        conn.close()
        raise UnknownTable(f"no table {table!r}; tables: {', '.join(sorted(names))}")
    hidden = HIDDEN.get(table, frozenset())
    columns = [c.name for c in db.table(table).columns if c.name not in hidden]
    select = ", ".join(f"[{c}]" for c in columns)
    return columns, db.query(f"SELECT {select} FROM [{table}] ORDER BY rowid"), conn


def export(path: Path, table: str, fmt: str, out: IO[str]) -> int:
    """Write ``table`` to ``out`` as CSV (with a header) or JSON lines; returns the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    columns, rows, conn = _rows(path, table)
    count = 0
    try:
        writer = csv.DictWriter(out, columns) if fmt == "csv" else None
        if writer is not None:
            writer.writeheader()
        for row in rows:
            if writer is not None:
                writer.writerow(row)
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    finally:
        conn.close()
    return count
