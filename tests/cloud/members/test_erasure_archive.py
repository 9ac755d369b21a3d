"""An erasure reaches the archive files (cloud/storage/retention.py): the next run of the
events_retention job rewrites the erased member's lines in the files that name them, leaves
every other line and file as it was, and records it in the audit; on both backends."""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path

from cloud.database import CloudDb
from cloud.storage.retention import Retention, events_archive, members_index, read_archive
from tests.helpers import utc_today

from .conftest import MemberSim

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
B = "01JBBBBBBBBBBBBBBBBBBBBBBB"
C = "01JCCCCCCCCCCCCCCCCCCCCCCC"
NAME_A, NAME_B = "Zhang Archived", "Li Kept"


def received_on(hq: CloudDb, first: int, last: int, day: date) -> None:
    with hq._db.write():
        hq._db.execute("UPDATE events SET received_on = ? WHERE seq >= ? AND seq <= ?",
                       (day.isoformat(), first, last))


def test_an_erasure_scrubs_the_archive_files_that_name_the_member(
        hq: CloudDb, sims: dict[str, MemberSim], tmp_path: Path) -> None:
    today = utc_today()
    first, second = today - timedelta(days=40), today - timedelta(days=39)
    s1 = sims["s1"]
    s1.created(A, "13700000001", NAME_A)
    s1.entry(A, 100)  # a ledger entry: the accounts keep it, not a scrubbed type
    s1.created(B, "13700000002", NAME_B)
    s1.send(hq)
    s1.created(C, "13700000003", "Wang Elsewhere")
    s1.send(hq)
    received_on(hq, 1, 3, first)
    received_on(hq, 4, 4, second)
    rules = Retention(events_days=7)
    done = hq.run_retention(tmp_path, rules, today)
    assert done["days_archived"] == [first.isoformat(), second.isoformat()]
    one, two = events_archive(tmp_path, first), events_archive(tmp_path, second)
    with gzip.open(members_index(one), "rt") as refs:
        assert refs.read().split() == [A, B]
    members_index(two).unlink()  # as an archive written before the lists were kept
    before_one, before_two = read_archive(one), two.read_bytes()
    assert NAME_A in str(before_one)

    erased, _ = hq.erase_member(A, "admin")
    assert erased is not None
    assert hq.erasures()[0]["archives_scrubbed_at"] is None
    done = hq.run_retention(tmp_path, rules, today)
    assert done["erasures_scrubbed"] == 1
    after = read_archive(one)
    assert NAME_A not in gzip.decompress(one.read_bytes()).decode()
    assert after[0]["data"]["erased"] is True and after[0]["data"]["member"]["id"] == A
    assert after[1:] == before_one[1:]  # A's ledger entry and B's creation as they were
    assert two.read_bytes() == before_two  # names no erased member: not rewritten
    with gzip.open(members_index(two), "rt") as refs:
        assert refs.read().split() == [C]  # its list made by reading it once
    audit = hq.erasures()[0]
    assert audit["archive_lines"] == 1 and audit["archives_scrubbed_at"] is not None
    assert hq.run_retention(tmp_path, rules, today)["erasures_scrubbed"] == 0
