"""SQL of the durable print queue (``print_jobs``) and its cursor over the outbox.

An order's ``order.placed`` event, committed with the order, is its print intent; the print
coordinator turns intents into jobs with :func:`materialize`, which moves the durable cursor
``meta.print_cursor`` in the same transaction. Job states::

    queued -> sending (written right before the first byte goes out) -> printed
           <- (a failure the daemon saw: back to queued, retried)
    sending at start-up -> interrupted (the daemon died mid-send: never re-sent by itself)
    unrouted: no printer prints that station (kept, visible, reprintable)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from common.clock import utc_now_iso
from common.errors import Conflict, NotFound

from edge.db.stockcache import keeps_stock_cache
from edge.db.group_commit import Tx

JOB_COLUMNS = ("id, order_id, kind, station, printer, routed_to, state, attempts, last_error, "
               "reprint_by, created_at, printed_at")
# (order_id, kind, station, printer or None)
NewJob = tuple[str, str, str | None, str | None]


def read_cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'print_cursor'").fetchone()
    return int(row[0]) if row else 0


def outbox_after(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, str | None]]:
    """``(seq, data of an order.placed event else None)`` after ``seq``, in order; an
    ``order.restored`` (an open order a replacement box got from HQ, storenode restore) is a
    print intent too."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT seq, CASE WHEN type IN ('order.placed', 'order.restored') THEN data END "
        "FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))]


def _insert_jobs(tx: Tx, jobs: list[NewJob], by: str | None) -> list[int]:
    at = utc_now_iso()
    return [tx.cur.execute(
        "INSERT INTO print_jobs(order_id, kind, station, printer, routed_to, state, reprint_by, "
        "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
        (order_id, kind, station, printer, printer, "queued" if printer else "unrouted", by,
         at, at)).fetchone()[0] for order_id, kind, station, printer in jobs]


def add_jobs(tx: Tx, jobs: list[NewJob]) -> list[int]:
    """Jobs queued by another write job in its own transaction (a waitlist ticket's call
    slip: ``order_id`` is then the ticket's id, ``kind`` ``waitlist``)."""
    return _insert_jobs(tx, jobs, None)


def waitlist_slip(conn: sqlite3.Connection, ticket_id: str) -> dict[str, Any] | None:
    """What a ``waitlist`` job prints: the called ticket's number and party size."""
    row = conn.execute("SELECT ticket, party, called_at FROM waitlist WHERE id = ?",
                       (ticket_id,)).fetchone()
    return None if row is None else {"ticket": row[0], "party": row[1], "called_at": row[2]}


@keeps_stock_cache  # print jobs only: no catalog or stock
def materialize(tx: Tx, expected: int, cursor: int, jobs: list[NewJob]) -> list[int] | None:
    """Insert ``jobs`` and move the cursor from ``expected`` to ``cursor``; ``None`` (nothing
    written) when the stored cursor is not ``expected`` any more."""
    if not tx.cur.execute("UPDATE meta SET value = ? WHERE key = 'print_cursor' AND value = ?",
                          (str(cursor), str(expected))).rowcount:
        return None
    return _insert_jobs(tx, jobs, None)


@keeps_stock_cache
def reprint(tx: Tx, order_id: str, jobs: list[NewJob], by: str) -> list[int]:
    """Jobs a person asked for (a reprint), with a ``print.reprint`` event."""
    if tx.cur.execute("SELECT 1 FROM orders WHERE id = ?", (order_id,)).fetchone() is None:
        raise NotFound("unknown_order", {"id": order_id})
    ids = _insert_jobs(tx, jobs, by)
    tx.emit("print.reprint", {"order_id": order_id, "by": by, "jobs": ids})
    return ids


@keeps_stock_cache
def claim(tx: Tx, ids: list[int], printer: str) -> None:
    """``queued`` -> ``sending``, right before the jobs' first byte goes to ``printer``; all
    of them or none (``Conflict`` when one left the printer's queue meanwhile)."""
    claimed = tx.cur.execute(
        f"UPDATE print_jobs SET state = 'sending', updated_at = ? WHERE id IN ({_marks(ids)}) "
        "AND printer = ? AND state = 'queued'", (utc_now_iso(), *ids, printer)).rowcount
    if claimed != len(ids):
        raise Conflict("print_job_moved", {"jobs": ids})


@keeps_stock_cache
def printed(tx: Tx, ids: list[int]) -> None:
    at = utc_now_iso()
    tx.cur.execute("UPDATE print_jobs SET state = 'printed', attempts = attempts + 1, "
                   f"printed_at = ?, updated_at = ?, last_error = NULL WHERE id IN ({_marks(ids)})",
                   (at, at, *ids))


@keeps_stock_cache
def failed(tx: Tx, ids: list[int], error: str, state_event: dict[str, Any] | None) -> None:
    """Tries that did not print: the jobs are queued again (to be retried), with the error;
    ``state_event``: the printer's ``printer.state_changed``, when its state changed."""
    tx.cur.execute("UPDATE print_jobs SET state = 'queued', attempts = attempts + 1, "
                   f"last_error = ?, updated_at = ? WHERE id IN ({_marks(ids)}) "
                   "AND state IN ('queued', 'sending')", (error, utc_now_iso(), *ids))
    if state_event is not None:
        tx.emit("printer.state_changed", state_event)


def _marks(ids: list[int]) -> str:
    return ",".join("?" * len(ids))


@keeps_stock_cache
def state_changed(tx: Tx, event: dict[str, Any]) -> None:
    tx.emit("printer.state_changed", event)


@keeps_stock_cache
def move_queued(tx: Tx, source: str, target: str, reason: str) -> int:
    """Fail-over: every queued job of ``source`` goes to ``target``."""
    moved = tx.cur.execute(
        "UPDATE print_jobs SET printer = ?, updated_at = ? WHERE printer = ? AND state = 'queued'",
        (target, utc_now_iso(), source)).rowcount
    if moved:
        tx.emit("print.failover", {"from": source, "to": target, "jobs": moved,
                                   "reason": reason})
    return int(moved)


@keeps_stock_cache
def interrupt_sending(tx: Tx) -> list[dict[str, Any]]:
    """At start-up: jobs left ``sending`` by a daemon that died mid-send become
    ``interrupted`` (one ``print.interrupted`` event); only a person re-sends them."""
    rows = tx.cur.execute(
        "UPDATE print_jobs SET state = 'interrupted', updated_at = ? WHERE state = 'sending' "
        "RETURNING id, order_id, kind, station, printer", (utc_now_iso(),)).fetchall()
    jobs = [dict(zip(("id", "order_id", "kind", "station", "printer"), r)) for r in rows]
    if jobs:
        tx.emit("print.interrupted", {"jobs": sorted(jobs, key=lambda j: j["id"])})
    return jobs


def next_jobs(conn: sqlite3.Connection, printer: str, limit: int
              ) -> tuple[list[dict[str, Any]], int]:
    """The printer's oldest queued jobs (at most ``limit``) and how many it has queued."""
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS}, COUNT(*) OVER () FROM print_jobs "
        "WHERE printer = ? AND state = 'queued' ORDER BY id LIMIT ?", (printer, limit)).fetchall()
    return [job_from_row(r) for r in rows], int(rows[0][-1]) if rows else 0


def job_from_row(row: sqlite3.Row) -> dict[str, Any]:
    return dict(zip(JOB_COLUMNS.split(", "), tuple(row)[:12]))


def jobs_of_order(conn: sqlite3.Connection, order_id: str) -> list[dict[str, Any]]:
    return [job_from_row(r) for r in conn.execute(
        f"SELECT {JOB_COLUMNS} FROM print_jobs WHERE order_id = ? ORDER BY id", (order_id,))]


def open_counts(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """``{state: {printer or "": count}}`` of every job not printed."""
    counts: dict[str, dict[str, int]] = {}
    for state, printer, n in conn.execute(
            "SELECT state, COALESCE(printer, ''), COUNT(*) FROM print_jobs "
            "WHERE state <> 'printed' GROUP BY state, printer"):
        counts.setdefault(state, {})[printer] = n
    return counts
