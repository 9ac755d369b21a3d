"""Waitlist SQL: tickets, their transitions (seating opens the table's session in the same
transaction), the turn times the estimate is made from. Writes run as ``fn(tx, …)`` on the
writer thread and emit ``waitlist.*`` events in the same transaction."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from common.clock import iso, utc_now
from common.errors import Conflict, NotFound
from common.ids import new_ulid

from edge.db.group_commit import Tx
from edge.db.stockcache import keeps_stock_cache
from edge.printing.jobs import NewJob, add_jobs
from edge.tables import sql as tables
from edge.waitlist import rules

COLUMNS = ("id, day, queue, number, ticket, party, phone, token, source, status, issued_at, "
           "wait_min, turn_min, called_at, calls, ended_at, waited_s, table_id, session_id")
STAFF_FIELDS = ("id", "ticket", "queue", "party", "phone", "source", "status", "issued_at",
                "wait_min", "called_at", "calls", "ended_at", "waited_s", "table_id", "day")


def _ts(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


# -- the estimate --------------------------------------------------------------------------
def turn_times(conn: sqlite3.Connection, now: datetime) -> dict[str, rules.Turn]:
    """Per queue: the median minutes of its latest closed seatings (parties of its size)
    within TURN_DAYS, or its default with fewer than MIN_SAMPLES of them."""
    since = iso(now - timedelta(days=rules.TURN_DAYS))
    found: dict[str, rules.Turn] = {}
    for queue in rules.QUEUES:
        high = queue.high if queue.high is not None else rules.MAX_PARTY
        rows = conn.execute(
            "SELECT (julianday(closed_at) - julianday(opened_at)) * 1440 FROM table_sessions "
            "WHERE closed_at IS NOT NULL AND closed_at >= ? AND guests BETWEEN ? AND ? "
            "ORDER BY closed_at DESC LIMIT ?", (since, queue.low, high, rules.TURN_SAMPLES))
        found[queue.name] = rules.turn_time(queue, [float(r[0]) for r in rows if r[0] > 0])
    return found


def _estimate(conn: sqlite3.Connection, queue: rules.Queue, ahead: int, turn: rules.Turn) -> int:
    fitting = free = 0
    for seats, busy in conn.execute(
            "SELECT t.seats, s.id IS NOT NULL OR t.status <> 'free' FROM dining_tables t "
            "LEFT JOIN table_sessions s ON s.table_id = t.id AND s.closed_at IS NULL"):
        if queue.fits(seats):
            fitting += 1
            free += 0 if busy else 1
    return rules.estimate_wait(ahead, fitting, free, turn.minutes)


def _ahead(conn: sqlite3.Connection, day: str, queue: str, number: int) -> int:
    return int(conn.execute(
        "SELECT COUNT(*) FROM waitlist WHERE day = ? AND queue = ? AND number < ? "
        "AND status = 'waiting'", (day, queue, number)).fetchone()[0])


# -- issue ---------------------------------------------------------------------------------
@keeps_stock_cache
def issue(tx: Tx, party: int, phone: str | None, source: str, day: str) -> dict[str, Any]:
    """A new ticket at the end of its queue, with the estimate the guest is given."""
    queue = rules.queue_for(party)
    if phone is not None:
        held = [r[0] for r in tx.conn.execute(
            "SELECT ticket FROM waitlist WHERE phone = ? AND day = ? "
            "AND status IN ('waiting', 'called')", (phone, day))]
        if len(held) >= rules.MAX_OPEN_PER_PHONE:
            raise Conflict("phone_has_ticket", {"tickets": held})
    number = int(tx.conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM waitlist "
                                 "WHERE day = ? AND queue = ?", (day, queue.name)).fetchone()[0])
    now = utc_now()
    turn = turn_times(tx.conn, now)[queue.name]
    ahead = _ahead(tx.conn, day, queue.name, number)
    wait_min = _estimate(tx.conn, queue, ahead, turn)
    ticket = {"id": new_ulid(), "ticket": rules.ticket_label(queue.name, number),
              "queue": queue.name, "party": party, "day": day, "issued_at": iso(now),
              "wait_min": wait_min, "source": source}
    token = secrets.token_urlsafe(rules.TOKEN_BYTES)
    tx.cur.execute(
        "INSERT INTO waitlist(id, day, queue, number, ticket, party, phone, token, source, "
        "status, issued_at, wait_min, turn_min, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,'waiting',?,?,?,?)",
        (ticket["id"], day, queue.name, number, ticket["ticket"], party, phone, token, source,
         ticket["issued_at"], wait_min, turn.minutes, ticket["issued_at"]))
    tx.emit("waitlist.issued", ticket)
    return {"id": ticket["id"], "ticket": ticket["ticket"], "queue": queue.name,
            "ahead": ahead, "wait_min": wait_min, "token": token, "party": party,
            "status": "waiting", "issued_at": ticket["issued_at"]}


# -- transitions ---------------------------------------------------------------------------
def _row(conn: sqlite3.Connection, where: str, value: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM waitlist WHERE {where} = ?", (value,)).fetchone()
    return None if row is None else dict(row)


def transition(tx: Tx, ticket_id: str, target: str, table: str | None, by: str,
               slips: list[NewJob]) -> dict[str, Any]:
    """Move a ticket; ``seated`` with a table opens its session (409 ``table_busy``, 404
    ``unknown_table``: nothing written); ``called`` queues ``slips`` (print jobs)."""
    row = _row(tx.conn, "id", ticket_id)
    if row is None:
        raise NotFound("unknown_ticket", {"id": ticket_id})
    if not rules.may_move(row["status"], target):
        raise Conflict("invalid_transition", {"from": row["status"], "to": target,
                                              "allowed": sorted(rules.TRANSITIONS.get(
                                                  row["status"], ()))})
    at = iso(utc_now())
    session = None
    if target == "seated" and table is not None:
        session = tables.open_table(tx, table, row["party"], by)["id"]
    waited = rules.waited_s(_ts(row["issued_at"]), _ts(at)) \
        if target in rules.WAITED else None
    tx.cur.execute(
        "UPDATE waitlist SET status = ?, updated_at = ?, "
        "called_at = CASE WHEN ? = 'called' THEN ? ELSE called_at END, "
        "calls = calls + (? = 'called'), "
        "ended_at = CASE WHEN ? IN ('seated', 'skipped', 'cancelled') THEN ? END, "
        "waited_s = COALESCE(waited_s, ?), table_id = COALESCE(?, table_id), "
        "session_id = COALESCE(?, session_id) WHERE id = ?",
        (target, at, target, at, target, target, at, waited, table, session, ticket_id))
    event: dict[str, Any] = {"id": ticket_id, "ticket": row["ticket"], "queue": row["queue"],
                             "party": row["party"], "day": row["day"], "from": row["status"],
                             "to": target, "at": at, "wait_min": row["wait_min"]}
    if waited is not None:
        event["waited_s"] = waited
    if table is not None:
        event["table"] = table
    jobs = add_jobs(tx, slips) if target == "called" and slips else []
    tx.emit("waitlist.changed", event)
    changed = staff_view(_row(tx.conn, "id", ticket_id) or row)
    return {**changed, "session": session, "print_jobs": jobs}


# -- reads -----------------------------------------------------------------------------------
def staff_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in STAFF_FIELDS}


def by_token(conn: sqlite3.Connection, token: str) -> dict[str, Any] | None:
    """What the guest's own ticket page shows (never the phone), or None."""
    row = _row(conn, "token", token)
    if row is None:
        return None
    ahead = _ahead(conn, row["day"], row["queue"], row["number"]) \
        if row["status"] == "waiting" else 0
    return {"ticket": row["ticket"], "queue": row["queue"], "party": row["party"],
            "status": row["status"], "ahead": ahead, "position": ahead + 1,
            "wait_min": _remaining(conn, row, ahead), "issued_at": row["issued_at"],
            "called_at": row["called_at"], "day": row["day"]}


def _remaining(conn: sqlite3.Connection, row: dict[str, Any], ahead: int) -> int:
    """The estimate now, for a waiting ticket (0 otherwise)."""
    if row["status"] != "waiting":
        return 0
    queue = rules.BY_NAME[row["queue"]]
    return _estimate(conn, queue, ahead, turn_times(conn, utc_now())[queue.name])


def open_tickets(conn: sqlite3.Connection, day: str) -> dict[str, Any]:
    """Staff's list: the day's open tickets per queue (in order) and the recent calls."""
    rows = [dict(r) for r in conn.execute(
        f"SELECT {COLUMNS} FROM waitlist WHERE day = ? ORDER BY queue, number", (day,))]
    turns = turn_times(conn, utc_now())
    queues = []
    for queue in rules.QUEUES:
        mine = [r for r in rows if r["queue"] == queue.name]
        waiting = [staff_view(r) for r in mine if r["status"] == "waiting"]
        for ahead, ticket in enumerate(waiting):
            ticket["ahead"] = ahead
        queues.append({"queue": queue.name, "parties": queue.parties,
                       "turn_min": turns[queue.name].minutes, "waiting": waiting,
                       "called": [staff_view(r) for r in mine if r["status"] == "called"]})
    recent = sorted((r for r in rows if r["called_at"]), key=lambda r: str(r["called_at"]),
                    reverse=True)[:10]
    return {"day": day, "queues": queues, "recent": [staff_view(r) for r in recent]}


def board(conn: sqlite3.Connection, day: str) -> dict[str, Any]:
    """The door's board: per queue how many wait and the numbers called last (no phones)."""
    queues = []
    for queue in rules.QUEUES:
        waiting = conn.execute("SELECT COUNT(*) FROM waitlist WHERE day = ? AND queue = ? "
                               "AND status = 'waiting'", (day, queue.name)).fetchone()[0]
        called = [r[0] for r in conn.execute(
            "SELECT ticket FROM waitlist WHERE day = ? AND queue = ? AND called_at IS NOT NULL "
            "AND status IN ('called', 'seated') ORDER BY called_at DESC LIMIT ?",
            (day, queue.name, rules.RECENT_CALLS))]
        queues.append({"queue": queue.name, "parties": queue.parties, "waiting": waiting,
                       "called": called})
    return {"day": day, "queues": queues}


def stats(conn: sqlite3.Connection, day: str) -> dict[str, Any]:
    """Per queue: tickets, outcomes, the mean actual wait (issue to the first call or the
    seating) and the mean absolute error of the estimate given at issue."""
    turns = turn_times(conn, utc_now())
    queues = []
    for queue in rules.QUEUES:
        row = conn.execute(
            "SELECT COUNT(*), SUM(status = 'seated'), SUM(status = 'skipped'), "
            "SUM(status = 'cancelled'), COUNT(waited_s), AVG(waited_s) / 60.0, "
            "AVG(ABS(waited_s - wait_min * 60)) / 60.0, AVG(waited_s - wait_min * 60) / 60.0, "
            "AVG(turn_min) FROM waitlist WHERE day = ? AND queue = ?",
            (day, queue.name)).fetchone()
        turn = turns[queue.name]
        queues.append({
            "queue": queue.name, "parties": queue.parties, "tickets": row[0],
            "seated": row[1] or 0, "skipped": row[2] or 0, "cancelled": row[3] or 0,
            "waited": row[4], "mean_wait_min": _round(row[5]), "mae_min": _round(row[6]),
            "mean_error_min": _round(row[7]), "turn_min_used": _round(row[8]),
            "turn_now": {"minutes": turn.minutes, "samples": turn.samples,
                         "source": turn.source}})
    return {"day": day, "queues": queues}


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)

