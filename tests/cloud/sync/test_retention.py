"""HQ storage that does not grow forever (cloud/storage/retention.py), on both backends:
partitions made ahead (PostgreSQL), expired days archived then removed, a crash between the
two run again safely, old resolved conflicts archived, migration 0025 over existing rows."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.config import ConfigError, load_settings
from cloud.database import CloudDb
from cloud.db import schema
from cloud.db.backend import Backend, open_backend
from cloud.storage import retention
from cloud.storage.retention import events_archive, partitions, read_archive

from tests.helpers import utc_today

from .sim import EdgeSim

TODAY = utc_today()


@pytest.fixture(autouse=True)
def _today() -> None:
    """TODAY is the day each test runs on, not the day the module was collected."""
    global TODAY
    TODAY = utc_today()


def backend(db: CloudDb) -> Backend:
    return db._db


def applied(db: CloudDb, n: int) -> EdgeSim:
    sim = EdgeSim("s1")
    sim.fill(n)
    for payload in sim.payloads(25):
        assert db.apply_batch("acme", "s1", payload).kind == "applied"
    return sim


def move(db: CloudDb, first: int, last: int, day: date) -> None:
    """Pretend HQ received seqs first..last on ``day`` (PostgreSQL moves them across
    partitions)."""
    with backend(db).write():
        backend(db).execute("UPDATE events SET received_on = ? WHERE seq >= ? AND seq <= ?",
                            (day.isoformat(), first, last))


def rows_of(db: CloudDb, day: date) -> list[dict[str, Any]]:
    """The day's rows as an archive line holds them."""
    found = backend(db).rows(f"SELECT {', '.join(retention.EVENT_COLUMNS)} FROM events "
                             "WHERE received_on = ? ORDER BY store, epoch, seq",
                             (day.isoformat(),))
    return [{**r, "epoch": int(r["epoch"]), "seq": int(r["seq"]), "v": int(r["v"]),
             "data": json.loads(r["data"]), "received_on": day.isoformat()} for r in found]


def seqs(db: CloudDb) -> list[int]:
    return [int(r["seq"]) for r in backend(db).rows("SELECT seq FROM events ORDER BY seq")]


def expired(db: CloudDb) -> tuple[date, list[dict[str, Any]]]:
    """30 events received 40 days ago, and their archive lines."""
    applied(db, 30)
    day = TODAY - timedelta(days=40)
    move(db, 1, 30, day)
    return day, rows_of(db, day)


def test_received_on_is_the_day_hq_applied_the_event(db: CloudDb) -> None:
    applied(db, 10)
    days = {str(r["received_on"])[:10] for r in backend(db).rows(
        "SELECT received_on FROM events")}
    assert days == {TODAY.isoformat()}


def test_partitions_are_made_ahead_once(db: CloudDb) -> None:
    if db.backend != "postgresql":
        assert retention.ensure_partitions(backend(db), TODAY, 3) == []  # SQLite: one table
        return
    names = {p.name for p in partitions(backend(db))}
    assert names == {"events_before", "events_default"}  # the migration's
    made = retention.ensure_partitions(backend(db), TODAY, 3)
    # today is in the migration's partition (up to the day it ran): the next days are made
    assert made == [f"events_{TODAY + timedelta(days=d):%Y%m%d}" for d in (1, 2, 3)]
    assert retention.ensure_partitions(backend(db), TODAY, 3) == []
    tomorrow = next(p for p in partitions(backend(db)) if p.name == made[0])
    assert (tomorrow.low, tomorrow.high) == (TODAY + timedelta(days=1), TODAY + timedelta(days=2))
    # an event received on a made day lands in its partition; apply stays exactly-once
    applied(db, 30)
    move(db, 1, 10, TODAY + timedelta(days=2))
    assert backend(db).execute(f"SELECT COUNT(*) FROM {made[1]}").fetchone()[0] == 10
    assert backend(db).execute("SELECT COUNT(*) FROM events").fetchone()[0] == 30


def test_a_day_the_default_partition_holds_is_not_made(db: CloudDb) -> None:
    if db.backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    applied(db, 5)
    later = TODAY + timedelta(days=5)
    move(db, 1, 5, later)  # no partition of that day yet: the DEFAULT one takes it
    assert backend(db).execute("SELECT COUNT(*) FROM events_default").fetchone()[0] == 5
    made = retention.ensure_partitions(backend(db), later - timedelta(days=1), 2)
    assert made == [f"events_{later - timedelta(days=1):%Y%m%d}",
                    f"events_{later + timedelta(days=1):%Y%m%d}"]


def test_retention_archives_then_removes_exactly_the_expired_days(db: CloudDb,
                                                                  tmp_path: Path) -> None:
    applied(db, 60)
    old, older = TODAY - timedelta(days=31), TODAY - timedelta(days=40)
    move(db, 1, 20, older)
    move(db, 21, 40, old)
    move(db, 41, 45, TODAY - timedelta(days=30))  # the oldest day kept
    expected = {older: rows_of(db, older), old: rows_of(db, old)}
    assert retention.archive_events(backend(db), tmp_path, TODAY, 30) == [older, old]
    for day, rows in expected.items():
        path = events_archive(tmp_path, day)
        assert path == (tmp_path / "archive" / "events" / f"{day:%Y}" / f"{day:%m}"
                        / f"{day:%d}" / f"events-{day.isoformat()}.jsonl.gz")
        assert read_archive(path) == rows and len(rows) == 20  # gunzip + JSON lines
    assert seqs(db) == list(range(41, 61))
    assert not list(tmp_path.rglob("*.tmp"))
    # run again: nothing more to do, nothing written twice
    assert retention.archive_events(backend(db), tmp_path, TODAY, 30) == []
    assert seqs(db) == list(range(41, 61))
    assert read_archive(events_archive(tmp_path, old)) == expected[old]


def test_an_expired_partition_is_archived_detached_and_dropped(db: CloudDb,
                                                               tmp_path: Path) -> None:
    if db.backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    made = retention.ensure_partitions(backend(db), TODAY, 3)
    applied(db, 40)
    move(db, 1, 10, TODAY + timedelta(days=1))
    move(db, 11, 25, TODAY + timedelta(days=2))
    expected = rows_of(db, TODAY + timedelta(days=2))
    later = TODAY + timedelta(days=2 + 30)  # the day after: days up to TODAY+1 expired
    assert retention.archive_events(backend(db), tmp_path, later, 30) == [
        TODAY, TODAY + timedelta(days=1)]
    names = {p.name for p in partitions(backend(db))}
    assert names == {"events_default", *made[1:]}  # the old table's partition dropped too
    assert seqs(db) == list(range(11, 26))
    assert len(read_archive(events_archive(tmp_path, TODAY))) == 15  # seqs 26..40
    assert retention.archive_events(backend(db), tmp_path, later + timedelta(days=2), 30) == [
        TODAY + timedelta(days=2), TODAY + timedelta(days=3)]
    assert read_archive(events_archive(tmp_path, TODAY + timedelta(days=2))) == expected
    assert read_archive(events_archive(tmp_path, TODAY + timedelta(days=3))) == []
    assert {p.name for p in partitions(backend(db))} == {"events_default"}
    assert seqs(db) == []


def crashing(db: CloudDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
             fake: Any) -> None:
    """Run the archive with ``retention.<name>`` replaced by ``fake``, which raises."""
    with monkeypatch.context() as patch:
        patch.setattr(retention, name, fake)
        with pytest.raises(RuntimeError):
            retention.archive_events(backend(db), tmp_path, TODAY, 30)


def archived_once_more(db: CloudDb, tmp_path: Path, day: date,
                       expected: list[dict[str, Any]]) -> None:
    """The run after a crash: the day's file holds its rows once, the rows are gone."""
    assert retention.archive_events(backend(db), tmp_path, TODAY, 30) == [day]
    assert read_archive(events_archive(tmp_path, day)) == expected and seqs(db) == []
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_crash_between_the_archive_and_the_removal_is_safe_to_run_again(
        db: CloudDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day, expected = expired(db)

    def crash(*_: Any) -> None:
        raise RuntimeError("power cut")

    crashing(db, tmp_path, monkeypatch, "_remove_day", crash)  # the file written, not removed
    path = events_archive(tmp_path, day)
    assert read_archive(path) == expected and len(seqs(db)) == 30
    # run again: the file is kept as it is (not written twice), the rows are removed
    archived_once_more(db, tmp_path, day, expected)


def test_a_crash_while_writing_the_archive_leaves_no_file(
        db: CloudDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day, expected = expired(db)

    def torn(*_: Any) -> Any:
        yield b'{"torn":'
        raise RuntimeError("power cut")

    crashing(db, tmp_path, monkeypatch, "_event_lines", torn)
    path = events_archive(tmp_path, day)
    assert not path.exists() and len(seqs(db)) == 30  # only a .tmp, and every row
    archived_once_more(db, tmp_path, day, expected)


def test_a_day_larger_than_a_chunk_is_read_and_deleted_in_chunks(
        db: CloudDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    day, expected = expired(db)
    monkeypatch.setattr(retention, "CHUNK", 7)
    retention.archive_events(backend(db), tmp_path, TODAY, 30)
    assert read_archive(events_archive(tmp_path, day)) == expected and seqs(db) == []


def test_old_resolved_conflicts_are_archived_then_deleted(db: CloudDb, tmp_path: Path) -> None:
    old = (TODAY - timedelta(days=100)).isoformat() + "T10:00:00.000Z"
    new = TODAY.isoformat() + "T10:00:00.000Z"
    with backend(db).write():
        for n, (at, resolved) in enumerate([(old, 1), (old, 0), (new, 1), (old, 1)]):
            backend(db).execute("INSERT INTO conflicts(store, kind, detail, created_at, "
                                "resolved) VALUES (?, ?, ?, ?, ?)",
                                ("s1", "member", f"detail {n}", at, resolved))
    assert retention.prune_conflicts(backend(db), tmp_path, TODAY, 90) == 2
    left = backend(db).rows("SELECT detail FROM conflicts ORDER BY id")
    assert [r["detail"] for r in left] == ["detail 1", "detail 2"]  # open, or recent
    [path] = list((tmp_path / "archive" / "conflicts").rglob("*.jsonl.gz"))
    lines = read_archive(path)
    assert [(r["detail"], r["resolved"], r["store"]) for r in lines] == [
        ("detail 0", 1, "s1"), ("detail 3", 1, "s1")]
    assert path.name == f"conflicts-{TODAY - timedelta(days=100)}-{lines[0]['id']}.jsonl.gz"
    assert retention.prune_conflicts(backend(db), tmp_path, TODAY, 90) == 0


def test_the_job_makes_partitions_archives_and_prunes(db: CloudDb, tmp_path: Path) -> None:
    applied(db, 20)
    move(db, 1, 20, TODAY - timedelta(days=10))
    done = db.run_retention(tmp_path, retention.Retention(events_days=7), TODAY)
    assert done["days_archived"] == [(TODAY - timedelta(days=10)).isoformat()]
    assert len(done["partitions_made"]) == (7 if db.backend == "postgresql" else 0)
    assert done["changes_pruned"] == 0 and done["conflicts_archived"] == 0
    assert seqs(db) == []


def test_retention_settings_are_validated(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("x" * 64)
    settings = load_settings(tmp_path, env={})
    assert settings.storage == retention.Retention(30, 7, 90)
    settings = load_settings(tmp_path, env={"STORENODE_CLOUD_STORAGE_EVENTS_RETENTION_DAYS": "14"})
    assert settings.storage.events_days == 14
    (tmp_path / "cloud.toml").write_text("[storage]\nevents_retention_days = 3\n")
    with pytest.raises(ConfigError, match="storage.events_retention_days must be between 7"):
        load_settings(tmp_path, env={})


EVENTS_0024 = ("INSERT INTO events(store, epoch, seq, event_id, type, v, at, hlc, data) "
               "VALUES (?, 1, ?, ?, ?, 1, ?, ?, ?)")


def test_the_migration_converts_an_events_table_that_has_rows(db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    names = [name for name, _ in schema.MIGRATIONS]
    before = names.index("0025_events_partitioned")
    db = open_backend(db_url)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:before])
            schema.migrate(db)
        old = [("s1", n, f"E{n:05d}", "order.placed", f"2026-10-{n:02d}T09:00:00.000Z",
                f"{n:013d}.00000", json.dumps({"n": n})) for n in range(1, 21)]
        old += [("s1", 21, "E00021", "table.added", "2026-10-21T09:00:00.000Z", "21.0",
                 json.dumps({"table": "T1", "name": "Window", "area": "terrace", "seats": 6,
                             "token_sha256": "ab"})),
                ("s1", 22, "E00022", "probe.conversion", "2026-10-22T09:00:00.000Z", "22.0",
                 json.dumps({"day": "2026-10-22", "pickup_visitors": 10, "converted": 3})),
                ("s1", 23, "E00023", "probe.conversion", "2026-10-22T21:00:00.000Z", "23.0",
                 json.dumps({"day": "2026-10-22", "pickup_visitors": 12, "converted": 4,
                             "window_s": 600})),
                ("s1", 24, "E00024", "probe.conversion", "2999-01-01T21:00:00.000Z", "24.0",
                 json.dumps({"day": "2026-10-23", "pickup_visitors": 0, "converted": 0}))]
        with db.write():
            db.insert_many(EVENTS_0024, old)
            db.execute("INSERT INTO guest_tables(store, table_id, name, token_sha256) "
                       "VALUES ('s1', 'T1', 'Window', 'ab')")
        assert schema.migrate(db) == names[before:]
        rows = db.rows("SELECT seq, at, received_on FROM events ORDER BY seq")
        assert [int(r["seq"]) for r in rows] == list(range(1, 25))
        received = {int(r["seq"]): str(r["received_on"])[:10] for r in rows}
        assert received[3] == "2026-10-03" and received[22] == "2026-10-22"
        if db.name == "postgresql":  # an edge clock in the future: the migration's day
            assert received[24] == TODAY.isoformat()
            kind = db.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = "
                              "to_regclass('events')").fetchone()
            assert kind is not None and kind[0] == "r"
            assert {p.name for p in partitions(db)} == {"events_before", "events_default"}
        assert db.rows("SELECT area, seats FROM guest_tables") == [
            {"area": "terrace", "seats": 6}]
        [day] = db.rows("SELECT store, day, seq FROM probe_days")
        assert (day["store"], day["day"], int(day["seq"])) == ("s1", "2026-10-22", 23)
    finally:
        db.close()
    cloud = CloudDb.open(db_url)  # what the migration left applies and reports
    try:
        assert cloud.probe_conversions("2026-10-01", "2026-11-01", None) == [
            {"store": "s1", "day": "2026-10-22", "pickup_visitors": 12, "converted": 4,
             "share_bp": 3333, "window_s": 600}]
    finally:
        cloud.close()
