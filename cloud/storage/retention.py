"""The ``events_retention`` job (docs/sync-protocol.md, "Storage at HQ").

Every event row carries ``received_on``, the UTC day HQ applied it (cloud/sync/apply.py). On
PostgreSQL ``events`` is partitioned by RANGE on it (migration 0025): ``ensure_partitions``
makes one partition a day, ``ahead`` days ahead. A day before ``today - retention`` is
*expired*: ``archive_events`` writes it to
``<data_dir>/archive/events/YYYY/MM/DD/events-YYYY-MM-DD.jsonl.gz`` (a temporary file, fsync,
rename, fsync of the directory) and only then removes it from the database: DETACH and DROP
of its own partition, or DELETE in chunks (SQLite; on PostgreSQL the partition the
migration made of the old table and the DEFAULT one). A crash anywhere is safe to run again:
a day whose file exists is not written again (the file only appears complete), its rows are
removed; a day whose file is missing is written from the rows, which are all still there.

Beside each day's file, ``events-YYYY-MM-DD.members`` (gzip, one id a line, sorted) lists the
member ids (ULIDs) named in the data of the day's events an erasure rewrites
(``SCRUBBED_EVENTS`` of cloud/members/erasure.py). ``scrub_events_archives`` rewrites only the
files whose list names an erased member (a file without a list is read whole once and gets
one), each replaced the same atomic way: an erasure reaches the archive without a pass over
every file.

``prune_conflicts`` archives resolved conflicts older than their retention the same way, in
files named by the first id they hold; ``changes.prune`` drops the change feed the stores
confirmed (it is state sent down: ``feed_state`` keeps what a snapshot needs).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from cloud.db.backend import Backend
from cloud.files import fsync_dir

EVENT_COLUMNS: Final = ("store", "epoch", "seq", "event_id", "type", "v", "at", "hlc", "data",
                        "received_on")
CONFLICT_COLUMNS: Final = ("id", "store", "kind", "detail", "created_at", "resolved")
CHUNK: Final = 10_000  # rows per archive read and per DELETE transaction
_BOUND = re.compile(r"FROM \((.+?)\) TO \((.+?)\)")
_PARTITION = re.compile(r"events_[0-9]{8}")
MEMBER_REF: Final = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")  # a member id (a ULID)


@dataclass(frozen=True)
class Retention:
    """``[storage]`` of cloud.toml."""

    events_days: int = 30          # raw events kept in the database, by day received
    partitions_ahead_days: int = 7  # PostgreSQL: daily partitions made this far ahead
    conflicts_days: int = 90        # resolved conflicts kept (open ones are kept until resolved)
    # a store stops following a member (cloud/members/follow.py) not looked up there this long
    followers_days: int = 365


def config_schema() -> dict[str, dict[str, tuple[type, Any]]]:
    defaults = Retention()
    return {"storage": {"events_retention_days": (int, defaults.events_days),
                        "partitions_ahead_days": (int, defaults.partitions_ahead_days),
                        "conflicts_retention_days": (int, defaults.conflicts_days),
                        "followers_retention_days": (int, defaults.followers_days)}}


# the change feed of a superseded box's catch-up and a box's restore read events no older than
# a few days (docs/sync-protocol.md): at least a week is kept
RANGES: Final = {"storage.events_retention_days": (7, 3650),
                 "storage.partitions_ahead_days": (1, 90),
                 "storage.conflicts_retention_days": (7, 3650),
                 "storage.followers_retention_days": (30, 3650)}


def from_config(values: dict[str, Any]) -> Retention:
    return Retention(events_days=values["storage.events_retention_days"],
                     partitions_ahead_days=values["storage.partitions_ahead_days"],
                     conflicts_days=values["storage.conflicts_retention_days"],
                     followers_days=values["storage.followers_retention_days"])


def events_archive(root: Path, day: date) -> Path:
    """The archive file of the events HQ received on ``day`` (``root``: the data dir)."""
    return (root / "archive" / "events" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
            / f"events-{day.isoformat()}.jsonl.gz")


def members_index(archive: Path) -> Path:
    """The list of member ids an events archive file names (``…/events-DAY.members``)."""
    return archive.with_name(archive.name.removesuffix(".jsonl.gz") + ".members")


def conflicts_archive(root: Path, day: date, first_id: int) -> Path:
    """The archive file of resolved conflicts from ``first_id`` on, the first made ``day``."""
    return (root / "archive" / "conflicts" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
            / f"conflicts-{day.isoformat()}-{first_id}.jsonl.gz")


# -- partitions (PostgreSQL) ---------------------------------------------------------------
@dataclass(frozen=True)
class Partition:
    name: str
    low: date | None   # None: MINVALUE; both None: the DEFAULT partition
    high: date | None

    @property
    def default(self) -> bool:
        return self.low is None and self.high is None

    @property
    def one_day(self) -> date | None:
        """The day of a partition of exactly one day."""
        if self.low is not None and self.high == self.low + timedelta(days=1):
            return self.low
        return None


def partitions(db: Backend) -> list[Partition]:
    """The partitions of ``events`` (none on SQLite, or before migration 0025)."""
    if db.name != "postgresql":
        return []
    found = []
    for row in db.rows("SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound "
                       "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       "WHERE i.inhparent = to_regclass('events') ORDER BY c.relname"):
        match = _BOUND.search(row["bound"] or "")
        if match is None:  # DEFAULT
            found.append(Partition(row["name"], None, None))
            continue
        low, high = (None if b == "MINVALUE" else date.fromisoformat(b.strip("'"))
                     for b in match.groups())
        found.append(Partition(row["name"], low, high))
    return found


def ensure_partitions(db: Backend, today: date, ahead: int) -> list[str]:
    """Make the daily partitions of ``today`` .. ``today + ahead`` that no partition covers
    (PostgreSQL); the names made. A day the DEFAULT partition already has rows of stays
    there (its rows are archived from there)."""
    made: list[str] = []
    if db.name != "postgresql":
        return made
    for offset in range(ahead + 1):
        day = today + timedelta(days=offset)
        with db.write():
            found = partitions(db)
            if any(p.high is not None and (p.low is None or p.low <= day) and day < p.high
                   for p in found):
                continue
            default = next((p.name for p in found if p.default), None)
            if default is not None and db.execute(
                    f"SELECT 1 FROM {default} WHERE received_on = ? LIMIT 1",
                    (day.isoformat(),)).fetchone():
                continue
            name = f"events_{day:%Y%m%d}"
            db.execute(f"CREATE TABLE {name} PARTITION OF events FOR VALUES FROM "
                       f"('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')")
        made.append(name)
    return made


# -- archive --------------------------------------------------------------------------------
def expired_days(db: Backend, cutoff: date) -> list[date]:
    """Days received before ``cutoff`` still in the database."""
    days: set[date] = set()
    if db.name != "postgresql":
        for row in db.rows("SELECT DISTINCT received_on AS day FROM events "
                           "WHERE received_on < ?", (cutoff.isoformat(),)):
            days.add(_day(row["day"]))
        return sorted(days)
    for part in partitions(db):
        if part.one_day is not None:
            if part.one_day < cutoff:
                days.add(part.one_day)
        elif part.default or part.low is None or part.low < cutoff:
            days.update(_day(r["day"]) for r in db.rows(
                f"SELECT DISTINCT received_on AS day FROM {part.name} WHERE received_on < ?",
                (cutoff.isoformat(),)))
    return sorted(days)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def archive_events(db: Backend, root: Path, today: date, retention_days: int,
                   scrubbed_types: frozenset[str] = frozenset()) -> list[date]:
    """Archive then remove every expired day; the days archived (by this run or before a
    crash). Removing a day's own partition drops it; a day in a wider one is deleted.
    ``scrubbed_types``: the event types whose member ids the day's ``.members`` list
    holds."""
    cutoff = today - timedelta(days=retention_days)
    done = []
    for day in expired_days(db, cutoff):
        path = events_archive(root, day)
        if not path.exists():
            named: set[str] = set()
            _write_atomic(path, _event_lines(db, day, scrubbed_types, named))
            _write_index(path, named)  # a crash before it: the scrub lists the file itself
        _remove_day(db, day)
        done.append(day)
    for part in partitions(db):  # the migration's partition, once every day of it is gone
        if (not part.default and part.high is not None and part.high <= cutoff
                and db.execute(f"SELECT 1 FROM {part.name} LIMIT 1").fetchone() is None):
            _drop(db, part.name)
    return done


def _event_lines(db: Backend, day: date, types: frozenset[str] = frozenset(),
                 named: set[str] | None = None) -> Iterator[bytes]:
    """The day's events, one JSON object a line, in (store, epoch, seq) order; read in
    chunks by key, never the whole day at once. Adds to ``named`` the member ids in the data
    of those of ``types``."""
    after: tuple[str, int, int] | None = None
    while True:
        more, params = ("", (day.isoformat(),)) if after is None else (
            " AND (store, epoch, seq) > (?, ?, ?)", (day.isoformat(), *after))
        with db.read():
            rows = db.rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE "
                           f"received_on = ?{more} ORDER BY store, epoch, seq LIMIT {CHUNK}",
                           params)
        for row in rows:
            if named is not None and row["type"] in types:
                named.update(MEMBER_REF.findall(row["data"]))
            yield _line({**row, "epoch": int(row["epoch"]), "seq": int(row["seq"]),
                         "v": int(row["v"]), "data": json.loads(row["data"]),
                         "received_on": _day(row["received_on"]).isoformat()})
        if len(rows) < CHUNK:
            return
        last = rows[-1]
        after = (last["store"], int(last["epoch"]), int(last["seq"]))


def _named_in(archive: Path, types: frozenset[str]) -> set[str]:
    """The member ids in the data of the lines of ``types`` of an archive file."""
    named: set[str] = set()
    with gzip.open(archive, "rb") as lines:
        for line in lines:
            row = json.loads(line)
            if row["type"] in types:
                named.update(MEMBER_REF.findall(json.dumps(row["data"], ensure_ascii=False)))
    return named


def _write_index(archive: Path, named: set[str]) -> None:
    _write_atomic(members_index(archive), (f"{ref}\n".encode() for ref in sorted(named)))


def scrub_events_archives(root: Path, erased: dict[str, int], types: frozenset[str],
                          rewrite: Callable[[Any], dict[str, Any]]) -> dict[int, int]:
    """Rewrite, in every events archive file under ``root`` that names one of ``erased``
    ({member id: its erasure}), the data of each line of ``types`` naming one with
    ``rewrite``; {erasure: lines rewritten}. Files naming none are not rewritten (their
    ``.members`` list says so; one without a list is read whole and gets one). Each file is
    replaced whole, atomically: a crash leaves the old file or the new one, and a rerun
    does the same again."""
    lines: dict[int, int] = {}
    for path in sorted((root / "archive" / "events").glob("*/*/*/events-*.jsonl.gz")):
        index = members_index(path)
        if index.exists():
            with gzip.open(index, "rt", encoding="ascii") as refs:
                named = {ref.strip() for ref in refs}
        else:  # written before lists were kept, or a crash before its list
            named = _named_in(path, types)
            _write_index(path, named)
        if named.isdisjoint(erased):
            continue
        _write_atomic(path, _scrubbed(path, erased, types, rewrite, lines))
    return lines


def _scrubbed(path: Path, erased: dict[str, int], types: frozenset[str],
              rewrite: Callable[[Any], dict[str, Any]], counts: dict[int, int]
              ) -> Iterator[bytes]:
    marks = [member.encode() for member in erased]
    with gzip.open(path, "rb") as old:
        for line in old:
            row = json.loads(line) if any(mark in line for mark in marks) else None
            if row is None or row["type"] not in types:
                yield line  # as it was, byte for byte
                continue
            text = json.dumps(row["data"], ensure_ascii=False)
            hits = {erasure for member, erasure in erased.items() if member in text}
            if not hits:
                yield line
                continue
            for erasure in hits:
                counts[erasure] = counts.get(erasure, 0) + 1
            yield _line({**row, "data": rewrite(row["data"])})


def _line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _write_atomic(path: Path, lines: Iterator[bytes]) -> int:
    """``path`` appears complete or not at all; how many lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename=path.name.removesuffix(".gz"), mode="wb", fileobj=raw,
                           mtime=0) as out:
            for line in lines:
                out.write(line)
                count += 1
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return count


def _remove_day(db: Backend, day: date) -> None:
    own = next((p.name for p in partitions(db) if p.one_day == day), None)
    if own is not None:
        _drop(db, own)
        return
    if db.name == "postgresql":
        home = [p.name for p in partitions(db) if p.one_day is None]
        delete = [f"DELETE FROM {name} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {name} WHERE "
                  f"received_on = ? LIMIT {CHUNK}))" for name in home]
    else:
        delete = [f"DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE "
                  f"received_on = ? LIMIT {CHUNK})"]
    for statement in delete:
        while True:
            with db.write():
                if db.execute(statement, (day.isoformat(),)).rowcount < CHUNK:
                    break


def _drop(db: Backend, name: str) -> None:
    if not (_PARTITION.fullmatch(name) or name == "events_before"):
        raise ValueError(f"not a partition of events: {name}")
    with db.write():
        db.execute(f"ALTER TABLE events DETACH PARTITION {name}")
        db.execute(f"DROP TABLE {name}")


def read_archive(path: Path) -> list[dict[str, Any]]:
    """The rows of an archive file (tests, and a look at one by hand)."""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


# -- conflicts ------------------------------------------------------------------------------
def prune_conflicts(db: Backend, root: Path, now: date, retention_days: int) -> int:
    """Archive then delete resolved conflicts made before ``now - retention_days``, a file
    per chunk named by its first id; how many. After a crash between the file and the
    delete, the file's own ids are deleted (the rerun finds the same first id)."""
    cutoff = (now - timedelta(days=retention_days)).isoformat()
    total = 0
    while True:
        with db.read():
            rows = db.rows(f"SELECT {', '.join(CONFLICT_COLUMNS)} FROM conflicts WHERE "
                           f"resolved = 1 AND created_at < ? ORDER BY id LIMIT {CHUNK}",
                           (cutoff,))
        if not rows:
            return total
        path = conflicts_archive(root, _day(rows[0]["created_at"]), int(rows[0]["id"]))
        if path.exists():  # written before a crash: delete what it holds
            ids = [int(r["id"]) for r in read_archive(path)]
        else:
            _write_atomic(path, (_line({**r, "id": int(r["id"]),
                                        "resolved": int(r["resolved"])}) for r in rows))
            ids = [int(r["id"]) for r in rows]
        with db.write():
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                db.execute(f"DELETE FROM conflicts WHERE id IN ({', '.join('?' * len(chunk))})",
                           chunk)
        total += len(ids)
