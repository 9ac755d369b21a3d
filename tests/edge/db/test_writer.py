"""The writer thread: group commit, SAVEPOINT per job, jobs arriving mid-batch join its commit."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from common.errors import Conflict
from edge.db.group_commit import Job, Tx


def _note(tx: Tx, text: str) -> str:
    tx.conn.execute("INSERT INTO meta(key, value) VALUES (?, 'x')", (text,))
    tx.emit("test.noted", {"text": text})
    return text


def _refuse(tx: Tx) -> None:
    tx.conn.execute("INSERT INTO meta(key, value) VALUES ('refused', 'x')")
    tx.emit("test.noted", {"text": "refused"})
    raise Conflict("refused")


async def test_jobs_queued_while_a_batch_runs_share_its_commit(writer: Any) -> None:
    loop = asyncio.get_running_loop()
    late: asyncio.Future[Any] = loop.create_future()

    def first(tx: Tx) -> str:  # a request arriving while this batch runs
        writer._queue.put(Job(_note, ("late",), late, loop))
        return _note(tx, "first")

    commits = writer.commits
    seq = writer.outbox.last_seq
    assert await writer.submit(first) == "first"
    assert await late == "late"
    assert writer.commits == commits + 1  # one transaction, one fsync for both
    assert writer.outbox.last_seq == seq + 2


async def test_a_refused_job_rolls_back_alone_and_leaves_no_seq_gap(writer: Any) -> None:
    seq = writer.outbox.last_seq
    results = await asyncio.gather(writer.submit(_note, "a"), writer.submit(_refuse),
                                   writer.submit(_note, "b"), return_exceptions=True)
    assert results[0] == "a" and isinstance(results[1], Conflict) and results[2] == "b"
    conn = sqlite3.connect(writer.path)
    try:
        keys = {k for (k,) in conn.execute("SELECT key FROM meta")}
        rows = conn.execute("SELECT seq, data FROM outbox WHERE seq > ? ORDER BY seq",
                            (seq,)).fetchall()
    finally:
        conn.close()
    assert {"a", "b"} <= keys and "refused" not in keys
    assert rows == [(seq + 1, '{"text":"a"}'), (seq + 2, '{"text":"b"}')]
