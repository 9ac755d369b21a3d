"""Opening a CloudDb: URLs, migrations (idempotent, concurrent), a lost PostgreSQL session."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cloud.database import CloudDb
from cloud.db import schema
from cloud.db.backend import open_backend
from cloud.db.schema import MIGRATIONS
from tests import pg


def test_sqlite_urls_and_plain_paths(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'a' / 'cloud.db'}", str(tmp_path / "b.db")):
        db = CloudDb.open(url)
        assert db.backend == "sqlite" and db.migrations_applied == [m for m, _ in MIGRATIONS]
        db.close()
    for bad in ("sqlite://relative.db", "mysql://host/db"):
        with pytest.raises(ValueError):
            CloudDb.open(bad)


def test_migrations_run_once_even_when_workers_start_together(db_url: str) -> None:
    opened: list[CloudDb] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(CloudDb.open(db_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors and len(opened) == 3
        ran = sorted(name for db in opened for name in db.migrations_applied)
        assert ran == sorted(name for name, _ in MIGRATIONS)  # each once, by any of them
        opened[0].add_store("s1", "acme")
        assert opened[1].get_store("s1") is not None
    finally:
        for db in opened:
            db.close()
    again = CloudDb.open(db_url)
    assert again.migrations_applied == [] and again.list_stores()[0]["store"] == "s1"
    again.close()


def test_postgres_session_lost_fails_one_call_then_reconnects() -> None:
    import psycopg

    with pg.throwaway_database() as url:
        db = CloudDb.open(url)
        try:
            db.add_store("s1", "acme")
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            with pytest.raises(psycopg.OperationalError):
                db.list_stores()
            assert [s["store"] for s in db.list_stores()] == ["s1"]
        finally:
            db.close()


def test_an_unreachable_postgres_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pg.ENV, "postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(pytest.fail.Exception), pg.throwaway_database():
        pass


def test_postgresql_only_statements_run_on_postgresql_alone(db_url: str) -> None:
    """Migration 0009's statistics on the month of an order exist on PostgreSQL (the channel
    report's plans depend on them); SQLite skips the statement instead of failing on it."""
    db = CloudDb.open(db_url)
    try:
        backend = db._db
        with backend.read():
            if db.backend == "postgresql":
                found = backend.rows("SELECT stxname FROM pg_statistic_ext")
                assert {"stxname": "orders_by_month_stats"} in found
            else:
                assert backend.rows("SELECT name FROM _migrations WHERE name = ?",
                                    ("0009_order_month_statistics",))
    finally:
        db.close()


def test_a_fresh_postgresql_database_plans_order_lookups_by_their_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    psycopg = pytest.importorskip("psycopg")
    """Migration 0009's ANALYZE runs only when orders has rows: statistics of the empty
    table of a fresh HQ made every generic plan of a lookup by key scan the whole table,
    table growing, until autovacuum analyzed it again (docs/scale.md, "Plans made on an empty
    table"). Where orders has rows when 0009 runs, their statistics are taken."""
    with pg.throwaway_database() as url:
        db = CloudDb.open(url)
        try:
            assert db._db.execute("SELECT reltuples FROM pg_class "
                                  "WHERE relname = 'orders'").fetchone()[0] < 0  # never
        finally:
            db.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET plan_cache_mode = force_generic_plan")  # as after five runs
            conn.execute("PREPARE lookup(text, text) AS "
                         "SELECT member FROM orders WHERE store = $1 AND id = $2")
            conn.execute("INSERT INTO orders(store, id, status, total_cents, created_at, "
                         "updated_at, seq) SELECT 's' || (i % 40), 'o' || i, 'placed', 100, "
                         "'2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z', i "
                         "FROM generate_series(1, 20000) AS i")
            plan = [r[0] for r in conn.execute("EXPLAIN EXECUTE lookup('s1', 'o41')")]
            assert plan[0].startswith("Index Scan using orders_pkey"), plan
    with pg.throwaway_database() as url:  # an HQ with orders, migrated up to 0009 now
        monkeypatch.setattr(schema, "MIGRATIONS", MIGRATIONS[:8])
        backend = open_backend(url)
        try:
            schema.migrate(backend)
        finally:
            backend.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO orders(store, id, status, total_cents, created_at, "
                         "updated_at, seq) VALUES ('s1', 'o1', 'placed', 100, "
                         "'2026-12-06T00:00:00Z', '2026-12-06T00:00:00Z', 1)")
        monkeypatch.undo()
        CloudDb.open(url).close()  # 0009 onwards
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT reltuples FROM pg_class "
                                "WHERE relname = 'orders'").fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM pg_statistic_ext_data d JOIN "
                                "pg_statistic_ext s ON s.oid = d.stxoid "
                                "WHERE s.stxname = 'orders_by_month_stats'").fetchone()[0] == 1
