"""Outbox pruning deletes only what HQ acknowledged and the print queue has taken over."""

from __future__ import annotations

import sqlite3
from typing import Any

from edge.syncer import sql as syncdb
from edge.db.group_commit import DbWriter, Tx

FUTURE = "9999-01-01T00:00:00.000Z"  # every event is older than this cutoff


def _note(tx: Tx, n: int) -> None:
    tx.emit("test.noted", {"n": n})


def _set_meta(tx: Tx, key: str, value: int) -> None:
    tx.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(value), key))


def _seqs(writer: DbWriter) -> list[int]:
    with sqlite3.connect(writer.path) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]


async def _fill(writer: DbWriter, n: int) -> int:
    for i in range(n):
        await writer.submit(_note, i)
    return writer.outbox.last_seq


async def test_only_acked_and_printed_events_older_than_the_cutoff_go(writer: Any) -> None:
    last = await _fill(writer, 10)
    first = last - 9
    await writer.submit(_set_meta, "outbox_acked_seq", first + 5)
    await writer.submit(_set_meta, "print_cursor", first + 2)  # printer down: jobs not made
    await writer.submit(syncdb.prune_outbox, FUTURE)
    assert _seqs(writer)[0] == first + 3  # the print queue still needs first+3...

    await writer.submit(_set_meta, "print_cursor", last)  # printer back: all jobs made
    await writer.submit(syncdb.prune_outbox, FUTURE)
    assert _seqs(writer)[0] == first + 6  # HQ has not acked past first+5

    await writer.submit(syncdb.prune_outbox, "2000-01-01T00:00:00.000Z")  # all too young
    assert _seqs(writer)[0] == first + 6


async def test_pruning_never_leaves_a_gap_for_the_publisher(writer: Any) -> None:
    last = await _fill(writer, 6)
    await writer.submit(_set_meta, "outbox_acked_seq", last)
    await writer.submit(_set_meta, "print_cursor", last)
    while await writer.submit(syncdb.prune_outbox, FUTURE, 2) > 0:
        pass
    assert _seqs(writer) == []
    await _fill(writer, 2)
    assert _seqs(writer) == [last + 1, last + 2]  # seq goes on from the counter, no reuse
