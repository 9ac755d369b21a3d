"""``Backend.insert_many``, ``insert_returning``, ``copy_many`` and ``update_many`` (what the
apply writes events and projections with), on both backends: every row lands, in order, as
given, an error leaves nothing of the call; on PostgreSQL an update by key follows the key even when the connection first ran it while the
table was nearly empty (docs/scale.md, "Plans made on an empty table")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.db.backend import COPY_MIN_ROWS, Backend, open_backend
from tests.pg import throwaway_database

INSERT = "INSERT INTO t(n, label) VALUES (?, ?)"
UPDATE = "UPDATE t SET label = ?, hits = ? WHERE n = ?"
COUNTS = (1, 2, 3, 7, 200, 255, 256, 257, 600, 1000)


def opened(url: str) -> Iterator[Backend]:
    db = open_backend(url)
    db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT NOT NULL, "
               "hits BIGINT NOT NULL DEFAULT 0)")
    yield db
    db.close()


@pytest.fixture(params=("sqlite", "postgres"))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield from opened(f"sqlite:///{tmp_path / 'bulk.db'}")
    else:
        with throwaway_database() as url:
            yield from opened(url)


@pytest.fixture
def postgres() -> Iterator[Backend]:
    with throwaway_database() as url:
        yield from opened(url)


def rows(db: Backend) -> list[tuple[object, ...]]:
    return [tuple(r) for r in db.execute("SELECT n, label, hits FROM t ORDER BY n").fetchall()]


def test_every_row_lands_in_order(backend: Backend) -> None:
    first = 0
    for count in COUNTS:
        with backend.write():
            backend.insert_many(INSERT, [(first + i, f"row {first + i}") for i in range(count)])
        first += count
    assert rows(backend) == [(n, f"row {n}", 0) for n in range(first)]


def test_every_row_is_updated_by_its_key(backend: Backend) -> None:
    with backend.write():
        backend.insert_many(INSERT, [(n, "new") for n in range(3000)])
    done: set[int] = set()
    for count in COUNTS:  # every third row, in calls of these many rows
        todo = [n for n in range(0, 3000, 3) if n not in done][:count]
        with backend.write():
            backend.update_many(UPDATE, [(f"seen {n}", n * 10**12, n) for n in todo])
        done.update(todo)
    assert rows(backend) == [(n, f"seen {n}", n * 10**12) if n in done else (n, "new", 0)
                             for n in range(3000)]
    with backend.write():
        backend.update_many(UPDATE, [])
        backend.update_many(UPDATE, [("x", 1, 99_999)])  # no such row: nothing
    assert len(rows(backend)) == 3000


def test_an_insert_returns_the_rows_it_inserted_and_only_those(backend: Backend) -> None:
    """``insert_returning`` (the apply's orders, whose lines follow only the orders it
    inserted): across chunks, a row ON CONFLICT DO NOTHING skipped returns nothing."""
    returning = "INSERT INTO t(n, label) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING n, label"
    with backend.write():
        backend.insert_many(INSERT, [(n, "old") for n in range(0, 1300, 7)])
    with backend.write():
        got = backend.insert_returning(returning, [(n, f"new {n}") for n in range(1300)])
        assert backend.insert_returning(returning, []) == []
    assert sorted(got) == [(n, f"new {n}") for n in range(1300) if n % 7]
    assert all(type(row) is tuple for row in got)
    assert rows(backend) == [(n, f"new {n}" if n % 7 else "old", 0) for n in range(1300)]


def test_a_failing_chunk_leaves_nothing_of_the_call(backend: Backend) -> None:
    with backend.write():
        backend.insert_many(INSERT, [(0, "taken")])
    with pytest.raises(backend.input_errors), backend.write():
        # the duplicate is in the last chunk (500 rows a chunk): the first goes in before it
        backend.insert_many(INSERT, [(n, "x") for n in range(1, 700)] + [(0, "again")])
    with pytest.raises(backend.input_errors), backend.write():
        backend.update_many(UPDATE, [("y", 1, 0)] + [("z", 2**63, 0)])  # out of BIGINT's range
    assert rows(backend) == [(0, "taken", 0)]


TRICKY = ["tab\there", "new\nline", "cr\rx", "back\\slash", "\\N", "\\.", "end\\", "汉字 ✓",
          "", "a\\tb", '"quoted", {"json": [1]}']


@pytest.mark.parametrize("count", [3000, COPY_MIN_ROWS, COPY_MIN_ROWS - 1, 1])
def test_a_copy_lands_every_row_as_given(backend: Backend, count: int) -> None:
    """``copy_many`` (PostgreSQL: ``COPY … FROM STDIN`` in its text format, which escapes
    tabs, newlines and backslashes, or below ``COPY_MIN_ROWS`` rows the multi-row INSERT;
    SQLite: the INSERT) round-trips what COPY's format spells specially, NULLs and 64-bit
    integers."""
    copy = "INSERT INTO t(n, label, hits) VALUES (?, ?, ?)"
    given = [(n, TRICKY[n % len(TRICKY)] + str(n), n * 10**15 if n % 2 else -n)
             for n in range(count)]
    with backend.write():
        backend.copy_many(copy, given)
        backend.copy_many(copy, [])
    assert rows(backend) == given
    backend.execute("CREATE TABLE u (n INTEGER PRIMARY KEY, note TEXT)")
    notes = [(n, None if n % 2 else "None") for n in range(max(2, count))]
    with backend.write():
        backend.copy_many("INSERT INTO u(n, note) VALUES (?, ?)", notes)
    assert [tuple(r) for r in backend.execute("SELECT n, note FROM u ORDER BY n")
            .fetchall()] == notes


@pytest.mark.parametrize("sql", [
    INSERT + " ON CONFLICT DO NOTHING", INSERT + " RETURNING n",
    "INSERT INTO t VALUES (?, ?, ?)", "UPDATE t SET label = ? WHERE n = ?"])
def test_a_copy_takes_only_a_plain_insert(backend: Backend, sql: str) -> None:
    """A COPY cannot skip or return rows: a statement that asks for it is refused before
    anything is sent, on both backends alike."""
    with pytest.raises(ValueError, match="copy_many takes"), backend.write():
        backend.copy_many(sql, [(1, "x")])
    assert rows(backend) == []


@pytest.mark.parametrize("count", [700, COPY_MIN_ROWS, COPY_MIN_ROWS - 1, 1])
def test_a_failing_copy_leaves_nothing_and_the_connection_usable(backend: Backend,
                                                                 count: int) -> None:
    """A duplicate key, a NULL where none may be and (PostgreSQL: refused by the client in
    the middle of the COPY or before the INSERT is sent) a NUL character fail the whole
    call with one of the backend's ``input_errors``, however many rows it has."""
    copy = "INSERT INTO t(n, label) VALUES (?, ?)"
    with backend.write():
        backend.copy_many(copy, [(0, "taken")])
    with pytest.raises(backend.input_errors), backend.write():
        backend.copy_many(copy, [(n, "x") for n in range(1, count)] + [(0, "again")])
    with pytest.raises(backend.input_errors), backend.write():
        backend.copy_many(copy, [(n, "y") for n in range(1, count)] + [(count, None)])
    if backend.name == "postgresql":
        with pytest.raises(backend.input_errors), backend.write():
            backend.copy_many(copy, [(n, "z") for n in range(1, count)] + [(count, "nul\x00")])
    with backend.write():
        backend.copy_many(copy, [(1, "after")])
    assert rows(backend) == [(0, "taken", 0), (1, "after", 0)]


def test_an_update_of_a_grown_table_follows_the_key(postgres: Backend) -> None:
    """A prepared UPDATE planned while the table held a few rows scans the whole table for
    the rest of the connection's life (until an ANALYZE): update_many is planned anew."""
    db = postgres
    # analyzed while empty (reltuples 0), as a fresh HQ's orders are by migration 0009: the
    # planner then takes the table for as small as it is
    db.execute("ANALYZE t")
    with db.write():
        db.insert_many(INSERT, [(n, "x") for n in range(10)])
    for _ in range(12):  # as often as the ingest runs it in its first seconds
        with db.write():
            db.update_many(UPDATE, [("y", 1, 3), ("y", 1, 4)])
    with db.write():
        db.insert_many(INSERT, [(n, "x") for n in range(10, 20_000)])
    scans = ("SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables "  # not yet reported
             "WHERE relname = 't'")
    with db.write():
        before = db.execute(scans).fetchone()
        db.update_many(UPDATE, [("z", 2, n) for n in range(0, 20_000, 1000)])
        after = db.execute(scans).fetchone()
    assert (after[0] - before[0], after[1] - before[1]) == (0, 20)  # 20 probes of the key
    assert db.execute("SELECT count(*) FROM t WHERE label = 'z'").fetchone()[0] == 20
