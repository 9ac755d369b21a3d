"""Property: whatever the interleaving of the store's own bookings, HQ's bookings within and
beyond its lease, leases given back, cancellations, no-shows and partitions (the two sides
exchange messages only when the test says so, batches and change pages may arrive twice),
no table is ever held twice over overlapping time at the store, and every booking HQ
confirmed to a guest is honoured there once the two sides meet.

The store and HQ are the real code on real databases (the edge's SQLite with its triggers,
HQ's SQLite with its apply and change feed); only the broker between them is this test's
loop, which hands over exactly what the MQTT topics would carry.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cloud.database import CloudDb
from cloud.feed.changes import changes_since
from cloud.reservations import sql as hq
from cloud.reservations.sql import Refused
from cloud.sync.apply import apply_batch
from common.clock import utc_now
from common.errors import DomainError
from common.http.body import canonical_json
from edge.db.connection import open_writer
from edge.db.group_commit import run_once
from edge.db.migrations import migrate
from edge.db.outbox import events_after
from edge.reservations import sql as store_sql
from edge.syncer.sql import apply_down
from edge.tables.sql import add_table
from sync.messages import encode, up_batch

TZ = ZoneInfo("Asia/Shanghai")
STORE, TENANT = "s1", "acme"
TABLES = (("T2a", 2), ("T2b", 2), ("T4", 4), ("T6", 6))
DAY = (utc_now().astimezone(TZ) + timedelta(days=2)).date().isoformat()
TIMES = ("18:00", "18:45", "19:00", "20:15")


class World:
    """One store and HQ, and the messages between them."""

    def __init__(self, work: Path) -> None:
        self.edge = open_writer(work / "edge.db")
        migrate(self.edge)
        for table, seats in TABLES:
            self.write(add_table, table, table, seats, "")
        self.hq = CloudDb.open(f"sqlite:///{work / 'hq.db'}")
        self.hq.add_store(STORE, TENANT)
        self.sent_seq = 0  # what went up
        self.down_cursor = 0  # what came down
        self.confirmed: set[str] = set()  # HQ ids confirmed to guests
        self.cancelled: set[str] = set()  # and then cancelled by the guest through HQ
        self.keys = 0
        self.leases: list[str] = []

    def close(self) -> None:
        self.edge.close()
        self.hq.close()

    def write(self, fn: Any, *args: Any) -> Any:
        return run_once(self.edge, STORE, fn, *args)

    def key(self) -> str:
        self.keys += 1
        return f"key-{self.keys:06d}"

    # -- the two ends --------------------------------------------------------------------
    def store_books(self, party: int, time: str, table: str | None) -> None:
        body: dict[str, Any] = {"party": party, "at": f"{DAY}T{time}", "source": "phone"}
        if table:
            body["table"] = table
        try:
            self.write(store_sql.book, body, self.key(), "h", TZ)
        except DomainError:
            pass  # no_table, table_too_small: refused, nothing written

    def store_leases(self, party: int, time: str, tables: int) -> None:
        try:
            lease = self.write(store_sql.lease, {"party": party, "at": f"{DAY}T{time}",
                                                 "tables": tables}, TZ)
            self.leases.append(lease["lease"])
        except DomainError:
            pass

    def store_returns(self, pick: int) -> None:
        if self.leases:
            self.write(store_sql.return_lease, self.leases[pick % len(self.leases)])

    def store_ends(self, pick: int, target: str) -> None:
        rows = self.edge.execute("SELECT id FROM reservations WHERE status = 'booked' "
                                 "ORDER BY id").fetchall()
        if rows:
            self.write(store_sql.transition, rows[pick % len(rows)][0], target, "staff")

    def hq_books(self, party: int, time: str) -> None:
        body = {"party": party, "at": f"{DAY}T{time}", "source": "mini_program"}
        digest = hashlib.sha256(canonical_json(body)).hexdigest()
        try:
            found, _, _ = self.hq.book_reservation(STORE, self.key(), body, digest)
        except Refused:
            return
        if found["status"] == "confirmed":
            self.confirmed.add(found["id"])

    def hq_cancels(self, pick: int) -> None:
        if self.confirmed:
            chosen = sorted(self.confirmed)[pick % len(self.confirmed)]
            try:
                self.hq.cancel_reservation(STORE, chosen)
            except Refused:
                return  # the guest arrived already: 409 at HQ, the booking stands
            self.confirmed.discard(chosen)
            self.cancelled.add(chosen)

    # -- the broker ----------------------------------------------------------------------
    def up(self, twice: bool) -> None:
        events = events_after(self.edge, STORE, self.sent_seq, ("",), 500)
        if not events:
            return
        for _ in range(2 if twice else 1):
            ack = apply_batch(self.hq._db, TENANT, STORE, encode(up_batch(STORE, events)))
            assert ack.kind in ("applied", "duplicate"), ack
        self.sent_seq = events[-1]["seq"]

    def down(self, twice: bool) -> None:
        feed = changes_since(self.hq._db, STORE, self.down_cursor, 1000)
        if not feed.changes:
            return
        message = {"cursor": feed.cursor, "changes": feed.changes}
        for _ in range(2 if twice else 1):
            self.write(apply_down, message, TZ)
        self.down_cursor = feed.cursor

    def meet(self) -> None:
        """The partition heals: exchange until neither side has anything new."""
        for _ in range(10):
            before = (self.sent_seq, self.down_cursor)
            self.up(False)
            self.down(False)
            if (self.sent_seq, self.down_cursor) == before:
                return
        raise AssertionError("the two sides never settled")

    # -- what must hold ------------------------------------------------------------------
    def assert_no_overlap(self) -> None:
        clash = self.edge.execute(
            "SELECT a.id, b.id, a.table_id FROM reservations a JOIN reservations b "
            "ON a.table_id = b.table_id AND a.id < b.id "
            "AND a.starts < b.ends AND b.starts < a.ends "
            f"WHERE a.{store_sql.HOLDING_SQL} AND b.{store_sql.HOLDING_SQL}").fetchall()
        assert clash == [], [tuple(r) for r in clash]

    def assert_confirmed_honoured(self) -> None:
        held = {r["hq_id"]: r for r in self.edge.execute(
            "SELECT hq_id, table_id, status FROM reservations WHERE hq_id IS NOT NULL")}
        for hq_id in self.confirmed:
            assert hq_id in held, f"HQ confirmed {hq_id}; the store does not hold it"
            row = held[hq_id]
            hq_row = self.hq.reservation(STORE, hq_id)
            assert hq_row is not None and row["status"] in ("booked", "arrived", "no_show", "cancelled")
            assert row["table_id"] == hq_row["table"]
            if row["status"] == "cancelled":  # only staff at the store can have done that
                assert hq_row["status"] == "cancelled"
        for hq_id in self.cancelled:  # the guest's cancellation freed the table
            assert held[hq_id]["status"] not in store_sql.rules.HOLDING, held[hq_id]
        pending = [r for r in self.hq.reservations_of_day(STORE, DAY)["reservations"]
                   if r["status"] == "pending"]
        assert pending == [], pending  # the store decided every one


@contextmanager
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as work:
        found = World(Path(work))
        try:
            yield found
        finally:
            found.close()


PARTY = st.integers(1, 7)
TIME = st.sampled_from(TIMES)
SLOT_TIME = st.sampled_from(TIMES[::2])  # leases and HQ's bookings meet often
STORE_STEP = st.one_of(
    st.tuples(st.just("store_books"), PARTY, TIME, st.sampled_from([None, "T2a", "T4", "T6"])),
    st.tuples(st.just("store_leases"), st.integers(1, 4), SLOT_TIME, st.integers(1, 2)),
    st.tuples(st.just("store_leases"), st.integers(1, 4), SLOT_TIME, st.integers(1, 2)),
    st.tuples(st.just("store_returns"), st.integers(0, 9)),
    st.tuples(st.just("store_ends"), st.integers(0, 9),
              st.sampled_from(["cancelled", "no_show", "arrived"])),
)
HQ_STEP = st.one_of(
    st.tuples(st.just("hq_books"), st.integers(1, 4), SLOT_TIME),
    st.tuples(st.just("hq_books"), st.integers(1, 4), SLOT_TIME),
    st.tuples(st.just("hq_books"), PARTY, TIME),
    st.tuples(st.just("hq_cancels"), st.integers(0, 9)),
)
# a round: the store works, its events reach HQ or not (a partition), HQ takes bookings,
# HQ's changes reach the store or not; a message may arrive twice
ROUND = st.tuples(st.lists(STORE_STEP, max_size=4), st.booleans(),
                  st.lists(HQ_STEP, max_size=4), st.booleans(), st.booleans())


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(ROUND, min_size=1, max_size=8))
def test_no_table_is_ever_held_twice_and_hq_confirmations_hold(
        rounds: list[tuple[Any, ...]]) -> None:
    with world() as w:
        for store_steps, up, hq_steps, down, twice in rounds:
            for name, *args in store_steps:
                getattr(w, name)(*args)
                w.assert_no_overlap()
            if up:
                w.up(twice)
            for name, *args in hq_steps:
                getattr(w, name)(*args)
            if down:
                w.down(twice)
                w.assert_no_overlap()
        w.meet()
        w.assert_no_overlap()
        w.assert_confirmed_honoured()
        event(f"HQ confirmed {min(len(w.confirmed), 3)}+ bookings, "
              f"cancelled {min(len(w.cancelled), 1)}+")


def test_the_database_refuses_an_overlap_whoever_writes(tmp_path: Path) -> None:
    """Not the booking code: a bare INSERT of an overlapping hold fails in the database."""
    conn = open_writer(tmp_path / "edge.db")
    migrate(conn)
    run_once(conn, STORE, add_table, "T1", "T1", 4, "")
    insert = ("INSERT INTO reservations(id, code, status, table_id, starts, ends, at_local, "
              "day, party, duration_min, source, created_at, updated_at) VALUES "
              "(?, ?, ?, 'T1', ?, ?, '', '', 2, 90, 'phone', '', '')")
    conn.execute(insert, ("a", "AAAAAA", "booked", 1000, 1090))
    for start, status in ((1089, "booked"), (911, "leased"), (1000, "seated")):
        try:
            conn.execute(insert, (f"b{start}", f"B{start}", status, start, start + 90))
        except sqlite3.IntegrityError as exc:
            assert "no_table" in str(exc)
        else:
            raise AssertionError(f"an overlapping {status} hold at {start} was written")
    conn.execute(insert, ("c", "CCCCCC", "booked", 1090, 1180))  # back to back: fine
    conn.execute(insert, ("d", "DDDDDD", "cancelled", 1000, 1090))  # holds nothing
    try:
        conn.execute("UPDATE reservations SET starts = 1050 WHERE id = 'c'")
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("a move onto a held window was written")
    conn.close()
