"""Insert cost into HQ's partitioned ``events`` with history present vs empty, on PostgreSQL.

What the apply does per batch (cloud/sync/apply.py): one transaction, one multi-row INSERT of
200 events of one store (``INSERT_EVENT`` through ``insert_many``). Timed in the same run,
``BATCHES`` batches spread over ``STORES`` stores, into four tables taking turns batch by
batch (after a CHECKPOINT and a round thrown away):

1. the partitioned ``events`` (migration 0025) holding ``HISTORY`` rows in the ten days before
   (one partition a day, made by ``generate_series`` straight in SQL, small rows), into
   today's partition;
2. its twin with the same keys and partitioning, **empty**;
3. for comparison, the layout before 0025: one plain table with ``PRIMARY KEY (store, epoch,
   seq)`` and ``UNIQUE (event_id)`` holding the same ``HISTORY`` rows;
4. its empty twin.

The figure is the ratio history / empty of each layout, of the median INSERT statement (the
transaction's time is printed too: on this machine the commit's WAL flush, about 4 ms, is
most of it and hides the INSERT's own cost). Partition pruning
keeps the apply writing into today's partition only, so its ratio stays near 1 whatever the
history; the plain table's indexes grow with it.

``HISTORY`` is 20 million rows by default (one day of a 10,000-store chain, 9 GB); issue 19's
100 million (``STORENODE_BENCH_EVENTS=100000000``) takes 44 GB of disk for both layouts and
about 7 minutes to generate here (measured 2026-12-05: ratio 1.00 partitioned, 1.11 plain).
Run: ``.venv/bin/python -m pytest -q -s tests/bench/test_events_partitions.py -o addopts=""``.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from cloud.database import CloudDb
from cloud.db.backend import Backend
from cloud.storage import retention
from cloud.sync.apply import INSERT_EVENT
from tests.pg import throwaway_database

from .plumbing import report

HISTORY = int(os.environ.get("STORENODE_BENCH_EVENTS", "20000000"))
DAYS, STORES, BATCH, BATCHES = 10, 1000, 200, 300
TARGET_RATIO = 1.5  # partitioned: full / empty
TODAY = datetime.now(UTC).date()
FLAT = """CREATE TABLE events_flat (
    store TEXT NOT NULL, seq BIGINT NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,
    v INTEGER NOT NULL, at TEXT NOT NULL, hlc TEXT NOT NULL, data TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 1, received_on DATE NOT NULL)"""
FLAT_KEYS = ("ALTER TABLE events_flat ADD PRIMARY KEY (store, epoch, seq)",
             "ALTER TABLE events_flat ADD UNIQUE (event_id)")
# one day's rows: store g % STORES, its seqs numbered on from the days before
DAY_ROWS = ("INSERT INTO {table} SELECT 's' || (g % {stores}), {first} + g / {stores}, "
            "'E{stamp}' || lpad(g::text, 12, '0'), 'order.placed', 1, '{day}T12:00:00.000Z', "
            "'1790000000000.00000', '{{\"n\":1}}', 1, DATE '{day}' "
            "FROM generate_series(0, {last}) g")


def history_days() -> list[date]:
    return [TODAY - timedelta(days=d) for d in range(DAYS, 0, -1)]


def per_day() -> int:
    return HISTORY // DAYS


def generate_partitions(raw: Backend) -> None:
    """Each past day into a table of its own, then attached (its keys built once, sorted)."""
    for n, day in enumerate(history_days()):
        name = f"events_{day:%Y%m%d}"
        with raw.write():
            raw.execute(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)")
            raw.execute(DAY_ROWS.format(table=name, stores=STORES, first=n * per_day() // STORES + 1,
                                        stamp=f"{day:%Y%m%d}", day=day.isoformat(),
                                        last=per_day() - 1))
            raw.execute(f"ALTER TABLE {name} ADD CHECK (received_on = DATE '{day.isoformat()}')")
        with raw.write():
            raw.execute(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM "
                        f"('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")
        raw.execute(f"VACUUM ANALYZE {name}")


def generate_flat(raw: Backend) -> None:
    with raw.write():
        raw.execute(FLAT)
        for n, day in enumerate(history_days()):
            raw.execute(DAY_ROWS.format(table="events_flat", stores=STORES,
                                        first=n * per_day() // STORES + 1,
                                        stamp=f"{day:%Y%m%d}", day=day.isoformat(),
                                        last=per_day() - 1))
        for statement in FLAT_KEYS:
            raw.execute(statement)
    raw.execute("VACUUM ANALYZE events_flat")


def batches(first_seq: int, round_: int) -> list[list[tuple[object, ...]]]:
    """``BATCHES`` batches of ``BATCH`` events, each of one store, as apply inserts them."""
    day = TODAY.isoformat()
    found: list[list[tuple[object, ...]]] = []
    for b in range(BATCHES):
        store = f"s{(b * 7) % STORES}"
        seq0 = first_seq + (b // STORES) * BATCH
        found.append([(store, 1, seq0 + i, f"F{round_}{TODAY:%Y%m%d}{b:06d}{i:04d}",
                       "order.placed", 1, f"{day}T12:00:00.000Z", "1790000000000.00000",
                       '{"order":{"id":"o1","lines":[]}}', day) for i in range(BATCH)])
    return found


def timed_inserts(raw: Backend, tables: list[str], rows: list[list[tuple[object, ...]]]
                  ) -> dict[str, tuple[float, float]]:
    """Per table, the median seconds of one batch's INSERT and of its whole transaction
    (with the commit's WAL flush), the tables taking turns batch by batch (the machine's load
    drifts alike for all)."""
    times: dict[str, list[tuple[float, float]]] = {table: [] for table in tables}
    for n, batch in enumerate(rows):
        for table in tables[n % len(tables):] + tables[:n % len(tables)]:
            sql = INSERT_EVENT.replace("INTO events(", f"INTO {table}(")
            started = time.perf_counter()
            with raw.write():
                raw.insert_many(sql, batch)
                inserted = time.perf_counter()
            times[table].append((inserted - started, time.perf_counter() - started))
    return {table: (statistics.median(t[0] for t in found),
                    statistics.median(t[1] for t in found)) for table, found in times.items()}


EMPTY_TWINS = (
    "CREATE TABLE events_empty (LIKE events INCLUDING DEFAULTS, "
    "PRIMARY KEY (store, epoch, seq, received_on), UNIQUE (event_id, received_on)) "
    "PARTITION BY RANGE (received_on)",
    "CREATE TABLE events_empty_today PARTITION OF events_empty FOR VALUES FROM "
    "('{today}') TO ('{tomorrow}')",
    "CREATE TABLE events_flat_empty (LIKE events_flat INCLUDING DEFAULTS, "
    "PRIMARY KEY (store, epoch, seq), UNIQUE (event_id))")
TABLES = ["events", "events_empty", "events_flat", "events_flat_empty"]


@pytest.mark.timeout(5400)
def test_insert_cost_with_history_vs_empty() -> None:
    with throwaway_database("storenode_bench") as url:
        db = CloudDb.open(url)
        raw = db._db
        try:
            # the migration's partition of the days before it is empty here: the history
            # goes into daily partitions, as the job makes them
            with raw.write():
                raw.execute("ALTER TABLE events DETACH PARTITION events_before")
                raw.execute("DROP TABLE events_before")
            retention.ensure_partitions(raw, TODAY, 1)
            started = time.perf_counter()
            generate_partitions(raw)
            generate_flat(raw)
            generated_s = time.perf_counter() - started
            with raw.write():
                for statement in EMPTY_TWINS:
                    raw.execute(statement.format(today=TODAY.isoformat(),
                                                 tomorrow=TODAY + timedelta(days=1)))
            raw.execute("CHECKPOINT")  # the generated gigabytes written out before timing
            (rows,) = raw.execute("SELECT count(*) FROM events").fetchone()
            assert rows == per_day() * DAYS
            size = raw.execute("SELECT pg_size_pretty(pg_database_size(current_database()))"
                               ).fetchone()[0]
            seq_after = per_day() * DAYS // STORES + 1
            # a round thrown away first: the first batches pay for the connection's caches
            timed_inserts(raw, TABLES, batches(seq_after + 10 * BATCH, 9))
            median = timed_inserts(raw, TABLES, batches(seq_after, 0))
        finally:
            db.close()
    ratio_part = median["events"][0] / median["events_empty"][0]
    ratio_flat = median["events_flat"][0] / median["events_flat_empty"][0]

    def ms(table: str) -> str:
        return (f"{median[table][0] * 1000:.2f} ms the INSERT, {median[table][1] * 1000:.2f} ms "
                "the transaction")

    report(f"events insert cost, {BATCHES} batches of {BATCH} rows, {rows:,} rows of history "
           f"({DAYS} days) vs empty, PostgreSQL (median batch, the four tables in turn)", [
               ("history generated", f"{generated_s:.0f} s (both layouts), database {size}"),
               ("partitioned, empty", ms("events_empty")),
               ("partitioned, history", ms("events")),
               ("partitioned ratio", f"{ratio_part:.2f} of the INSERT (target <= "
                                     f"{TARGET_RATIO})"),
               ("plain table, empty", ms("events_flat_empty")),
               ("plain table, history", ms("events_flat")),
               ("plain table ratio", f"{ratio_flat:.2f} of the INSERT")])
    assert ratio_part <= TARGET_RATIO
