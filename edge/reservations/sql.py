"""Reservations' SQL. Writes run as ``fn(tx, …)`` on the writer thread and emit
``reservation.*`` / ``booking.*`` events in the same transaction.

No two holds of one table overlap: the triggers of migration ``0014_reservations`` refuse the
INSERT or UPDATE that would make them, inside the writing transaction. A booking therefore
does not check and then write: it tries the fitting tables, smallest first, and keeps the
first the database accepts (``no_table`` when none does). Capacity leased to HQ is held by
rows of status ``leased``, so the store's own bookings cannot take it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from common.clock import iso, utc_now
from common.errors import Conflict, DomainError, NotFound
from common.ids import new_ulid

from edge.db.group_commit import Tx
from edge.members import rules as member_rules
from edge.members.sql import by_idhash, data_dir_of, load_key
from edge.reservations import rules
from edge.tables.sql import open_table

COLUMNS = ("id, code, status, table_id, starts, ends, at_local, day, party, duration_min, name, "
           "phone, note, source, member_id, hq_id, lease_id, session_id, created_at, updated_at")
HOLDING_SQL = "status IN ('booked', 'arrived', 'seated', 'leased')"


class NoTable(Conflict):
    def __init__(self, detail: Any) -> None:
        super().__init__("no_table", detail)


# -- reads --------------------------------------------------------------------------------
def get(conn: sqlite3.Connection, reservation_id: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT {COLUMNS} FROM reservations WHERE id = ?",
                       (reservation_id,)).fetchone()
    if row is None:
        raise NotFound("unknown_reservation", {"id": reservation_id[:64]})
    return rules.public_view(row)


def list_day(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM reservations WHERE day = ? "
                        "AND status NOT IN ('leased', 'returned') ORDER BY starts, table_id",
                        (day,)).fetchall()
    return [rules.public_view(r) for r in rows]


def leases(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    """The capacity leased to HQ on a day: each lease's slots and which HQ used."""
    found: dict[str, dict[str, Any]] = {}
    for r in conn.execute(f"SELECT {COLUMNS} FROM reservations WHERE day = ? "
                          "AND lease_id IS NOT NULL ORDER BY starts, table_id", (day,)):
        lease = found.setdefault(r["lease_id"], {"lease": r["lease_id"], "at": r["at_local"],
                                                 "slots": []})
        lease["slots"].append({"id": r["id"], "table": r["table_id"], "status": r["status"],
                               "hq_id": r["hq_id"]})
    return list(found.values())


def tables(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, name, seats, area FROM dining_tables "
                        "ORDER BY seats, id").fetchall()


def availability(conn: sqlite3.Connection, party: int, starts: int, ends: int
                 ) -> list[dict[str, Any]]:
    """The tables with enough seats that nothing holds over ``[starts, ends)``, smallest
    first (one indexed range per table)."""
    rows = conn.execute(
        "SELECT t.id, t.name, t.seats, t.area FROM dining_tables t WHERE t.seats >= ? "
        "AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.table_id = t.id "
        f"AND r.{HOLDING_SQL} AND r.starts > ? AND r.starts < ? AND r.ends > ?) "
        "ORDER BY t.seats, t.id", (party, starts - rules.MAX_DURATION_MIN, ends, starts))
    return [dict(r) for r in rows]


# -- writes -------------------------------------------------------------------------------
def _insert(tx: Tx, row: dict[str, Any]) -> bool:
    """Insert a holding row; False when the database refuses it for an overlapping hold."""
    try:
        tx.cur.execute(f"INSERT INTO reservations({COLUMNS}) VALUES "
                       "(:id, :code, :status, :table_id, :starts, :ends, :at_local, :day, "
                       ":party, :duration_min, :name, :phone, :note, :source, :member_id, "
                       ":hq_id, :lease_id, :session_id, :created_at, :updated_at)", row)
    except sqlite3.IntegrityError as exc:
        if "no_table" in str(exc):
            return False
        if "reservations.code" in str(exc):  # one in a billion: draw again
            row["code"] = rules.new_code()
            return _insert(tx, row)
        raise
    return True


def _place(tx: Tx, row: dict[str, Any], party: int, table: str | None) -> None:
    """Hold the chosen table, or the smallest fitting one the database accepts."""
    window = {"at": row["at_local"], "party": party, "duration_min": row["duration_min"]}
    if table is not None:
        seats = tx.conn.execute("SELECT seats FROM dining_tables WHERE id = ?",
                                (table,)).fetchone()
        if seats is None:
            raise NotFound("unknown_table", {"id": table[:64]})
        if int(seats[0]) < party:
            raise DomainError("table_too_small", {"table": table, "seats": seats[0],
                                                  "party": party})
        candidates: Iterable[str] = (table,)
    else:
        candidates = [r[0] for r in tx.conn.execute(
            "SELECT id FROM dining_tables WHERE seats >= ? ORDER BY seats, id", (party,))]
    for candidate in candidates:
        row["table_id"] = candidate
        if _insert(tx, row):
            return
    raise NoTable({**window, "table": table})


def _member_of(conn: sqlite3.Connection, phone: str) -> str | None:
    """The member with this phone, when the store has the tenant key and knows one."""
    if not phone:
        return None
    key = load_key(data_dir_of(conn))
    if key is None:
        return None
    return by_idhash(conn, member_rules.identity(key, "phone", phone)["idhash"])


def _new_row(body: dict[str, Any], window: rules.Window, status: str, at: str,
             phone: str) -> dict[str, Any]:
    return {"id": new_ulid(), "code": rules.new_code(), "status": status, "table_id": None,
            "starts": window.starts, "ends": window.ends, "at_local": window.at_local,
            "day": window.day, "party": body["party"], "duration_min": window.duration_min,
            "name": body.get("name", ""), "phone": phone, "note": body.get("note", ""),
            "source": body.get("source", "phone"), "member_id": None, "hq_id": None,
            "lease_id": None, "session_id": None, "created_at": at, "updated_at": at}


def _window(body: dict[str, Any], tz: ZoneInfo, now: datetime) -> rules.Window:
    duration = body.get("duration_min") or rules.default_duration(body["party"])
    window = rules.local_window(body["at"], duration, tz)
    rules.check_bookable(window, now)
    return window


def _event(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "code": row["code"], "status": row["status"],
            "table": row["table_id"], "at": row["at_local"], "day": row["day"],
            "starts": iso(rules.from_epoch_min(row["starts"])), "party": row["party"],
            "duration_min": row["duration_min"], "name": row["name"], "phone": row["phone"],
            "note": row["note"], "source": row["source"], "member": row["member_id"],
            "hq_id": row["hq_id"], "lease": row["lease_id"]}


def book(tx: Tx, body: dict[str, Any], key: str, req_hash: str, tz: ZoneInfo
         ) -> tuple[dict[str, Any], bool]:
    """Book a table (201), or answer the booking this key made before (200)."""
    now = utc_now()
    seen = tx.conn.execute("SELECT request_hash, reservation_id FROM reservation_keys "
                           "WHERE key = ?", (key,)).fetchone()
    if seen is not None:
        if seen[0] != req_hash:
            raise DomainError("idempotency_key_reused", {"key": key})
        return get(tx.conn, seen[1]), True
    phone = member_rules.normalize_phone(body["phone"]) if body.get("phone") else ""
    row = _new_row(body, _window(body, tz, now), "booked", iso(now), phone)
    row["member_id"] = _member_of(tx.conn, phone)
    _place(tx, row, body["party"], body.get("table"))
    tx.cur.execute("INSERT INTO reservation_keys(key, request_hash, reservation_id) "
                   "VALUES (?,?,?)", (key, req_hash, row["id"]))
    tx.emit("reservation.booked", _event(row))
    return rules.public_view(row), False


def move(tx: Tx, reservation_id: str, body: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Another time, table, party or duration for a booking; the database refuses an
    overlap (409 ``no_table``) and the booking stays as it was."""
    current = get(tx.conn, reservation_id)
    if current["status"] not in ("booked", "arrived"):
        raise Conflict("invalid_transition", {"from": current["status"], "to": "moved"})
    party = body.get("party", current["party"])
    merged = {"at": body.get("at", current["at"]), "party": party,
              "duration_min": body.get("duration_min") or (
                  current["duration_min"] if "party" not in body
                  else rules.default_duration(party))}
    window = _window(merged, tz, utc_now())
    table = body.get("table", current["table"])
    if body.get("table") is None:
        fits = tx.conn.execute("SELECT seats FROM dining_tables WHERE id = ?",
                               (table,)).fetchone()
        table = table if fits is not None and int(fits[0]) >= party else None
    row = {**_row(tx.conn, reservation_id), "status": current["status"],
           "starts": window.starts, "ends": window.ends, "at_local": window.at_local,
           "day": window.day, "party": party, "duration_min": window.duration_min,
           "updated_at": iso(utc_now())}
    # out of the way of its own new window; a refused move rolls back with the job
    tx.cur.execute("DELETE FROM reservations WHERE id = ?", (reservation_id,))
    _place(tx, row, party, table)
    moved = {**_event(row), "from": {"table": current["table"], "at": current["at"],
                                     "duration_min": current["duration_min"],
                                     "party": current["party"]}}
    tx.emit("reservation.moved", moved)
    return rules.public_view(row)


def _row(conn: sqlite3.Connection, reservation_id: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT {COLUMNS} FROM reservations WHERE id = ?",
                       (reservation_id,)).fetchone()
    if row is None:
        raise NotFound("unknown_reservation", {"id": reservation_id[:64]})
    return dict(row)


def transition(tx: Tx, reservation_id: str, target: str, by: str, table: str | None = None,
               guests: int | None = None) -> dict[str, Any]:
    """arrived, seated (opens the table's seating), no_show, cancelled (free the table)."""
    row = _row(tx.conn, reservation_id)
    rules.check_transition(row["status"], target)
    at = iso(utc_now())
    changed: dict[str, Any] = {"id": reservation_id, "hq_id": row["hq_id"],
                               "from": row["status"], "to": target, "at": at,
                               "table": row["table_id"], "party": row["party"],
                               "source": row["source"], "day": row["day"]}
    if target == "seated":
        seat_at = table or row["table_id"]
        if seat_at != row["table_id"]:  # seated elsewhere: the hold moves with the guests
            _reseat(tx, row, seat_at)
        session = open_table(tx, seat_at, guests or row["party"], by)
        tx.cur.execute("UPDATE reservations SET status = 'seated', session_id = ?, "
                       "table_id = ?, updated_at = ? WHERE id = ?",
                       (session["id"], seat_at, at, reservation_id))
        changed.update(table=seat_at, session=session["id"])
    else:
        tx.cur.execute("UPDATE reservations SET status = ?, updated_at = ? WHERE id = ?",
                       (target, at, reservation_id))
    tx.emit("reservation.changed", changed)
    return get(tx.conn, reservation_id)


def _reseat(tx: Tx, row: dict[str, Any], table: str) -> None:
    """Seat a booking at another table: from now to its end, that table must be free."""
    start = max(rules.epoch_min(utc_now()), row["starts"])
    try:
        tx.cur.execute("UPDATE reservations SET table_id = ?, starts = ?, ends = MAX(ends, ?) "
                       "WHERE id = ?", (table, start, start + 1, row["id"]))
    except sqlite3.IntegrityError as exc:
        if "no_table" in str(exc):
            raise NoTable({"table": table, "at": row["at_local"]}) from None
        raise
    if tx.conn.execute("SELECT 1 FROM dining_tables WHERE id = ?", (table,)).fetchone() is None:
        raise NotFound("unknown_table", {"id": table[:64]})


# -- capacity leased to HQ ------------------------------------------------------------------
def lease(tx: Tx, body: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Hold ``tables`` tables of at least ``party`` seats at ``at`` for HQ's online bookings:
    all of them or none (409 ``no_table``). HQ confirms within it while the store is offline."""
    now = utc_now()
    window = _window(body, tz, now)
    lease_id = new_ulid()
    slots = []
    for _ in range(body["tables"]):
        row = _new_row({**body, "source": "mini_program"}, window, "leased", iso(now), "")
        row["lease_id"] = lease_id
        _place(tx, row, body["party"], None)  # NoTable rolls the whole lease back
        slots.append({"id": row["id"], "table": row["table_id"], "seats": _seats(tx, row)})
    leased = {"lease": lease_id, "at": window.at_local, "day": window.day,
              "party": body["party"], "duration_min": window.duration_min, "slots": slots}
    tx.emit("booking.lease", leased)
    return leased


def _seats(tx: Tx, row: dict[str, Any]) -> int:
    return int(tx.conn.execute("SELECT seats FROM dining_tables WHERE id = ?",
                               (row["table_id"],)).fetchone()[0])


def return_lease(tx: Tx, lease_id: str) -> dict[str, Any]:
    """Ask HQ to give the lease back. The tables stay held until HQ answers (it may have
    confirmed a guest on a slot meanwhile): ``booking.lease_released`` frees the slots HQ did
    not use."""
    if tx.conn.execute("SELECT 1 FROM reservations WHERE lease_id = ? LIMIT 1",
                       (lease_id,)).fetchone() is None:
        raise NotFound("unknown_lease", {"lease": lease_id[:64]})
    asked = {"lease": lease_id, "at": iso(utc_now())}
    tx.emit("booking.lease_return", asked)
    return {**asked, "status": "returning"}


# -- HQ's changes (the change feed; sync.changes schemas) ------------------------------------
def apply_hq_confirmed(tx: Tx, data: dict[str, Any]) -> None:
    """A booking HQ confirmed on a leased slot (possibly while this store was offline):
    the slot's table was held for HQ all along, so it becomes the booking; applied twice,
    nothing changes."""
    if tx.conn.execute("SELECT 1 FROM reservations WHERE hq_id = ?",
                       (data["id"],)).fetchone() is not None:
        return
    slot = tx.conn.execute(f"SELECT {COLUMNS} FROM reservations WHERE id = ? "
                           "AND status = 'leased'", (data["slot"],)).fetchone()
    if slot is None:
        raise Conflict("unknown_slot", {"slot": data["slot"]})
    phone = _phone_or_blank(data.get("phone"))
    at = iso(utc_now())
    ends = slot["starts"] + min(int(data["duration_min"]), slot["duration_min"])
    tx.cur.execute(
        "UPDATE reservations SET status = 'booked', hq_id = ?, name = ?, phone = ?, note = ?, "
        "party = ?, ends = ?, duration_min = ?, member_id = ?, updated_at = ? WHERE id = ?",
        (data["id"], data.get("name", ""), phone, data.get("note", ""), data["party"], ends,
         ends - slot["starts"], data.get("member") or _member_of(tx.conn, phone), at, slot["id"]))
    tx.emit("reservation.booked", _event(_row(tx.conn, slot["id"])))


def apply_hq_request(tx: Tx, data: dict[str, Any], tz: ZoneInfo) -> None:
    """A booking HQ could not confirm from its lease: the store decides now, by its own
    tables (``reservation.booked`` with the HQ id, or ``reservation.rejected``)."""
    if tx.conn.execute("SELECT 1 FROM reservations WHERE hq_id = ?",
                       (data["id"],)).fetchone() is not None:
        return
    body: dict[str, Any] = {k: data[k] for k in ("name", "party", "at", "duration_min", "note",
                                                  "source") if k in data}
    try:
        window = _window(body, tz, utc_now())
        phone = _phone_or_blank(data.get("phone"))
        row = _new_row(body, window, "booked", iso(utc_now()), phone)
        row["hq_id"], row["member_id"] = data["id"], data.get("member") or _member_of(
            tx.conn, phone)
        _place(tx, row, body["party"], None)
    except DomainError as exc:
        tx.emit("reservation.rejected", {"hq_id": data["id"], "reason": exc.code,
                                         "at": data.get("at")})
        return
    tx.emit("reservation.booked", _event(row))


def apply_lease_released(tx: Tx, data: dict[str, Any]) -> None:
    """HQ gave these slots of a lease back: their tables are the store's again."""
    slots = list(data["slots"])
    marks = ",".join("?" * len(slots))
    tx.cur.execute(f"UPDATE reservations SET status = 'returned', updated_at = ? "
                   f"WHERE lease_id = ? AND status = 'leased' AND id IN ({marks})",
                   (iso(utc_now()), data["lease"], *slots))
    if tx.cur.rowcount:
        tx.emit("booking.lease_released", {"lease": data["lease"], "slots": slots})


def apply_hq_cancel(tx: Tx, data: dict[str, Any]) -> None:
    """The guest cancelled an HQ booking (the mini-program): the table is free again."""
    row = tx.conn.execute("SELECT id, status FROM reservations WHERE hq_id = ?",
                          (data["id"],)).fetchone()
    if row is None or row["status"] not in ("booked", "arrived"):
        return
    transition(tx, row["id"], "cancelled", "hq")


def _phone_or_blank(raw: Any) -> str:
    if not raw:
        return ""
    try:
        return member_rules.normalize_phone(str(raw))
    except DomainError:
        return ""
