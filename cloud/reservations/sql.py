"""SQL of HQ's reservations (cloud/reservations): online bookings, the capacity stores lease to
HQ, the stores' bookings and waitlists as their events tell them, and the reports on them.

``book`` is one write transaction under the store's row lock (so two HQ processes never give
one leased slot to two guests): an Idempotency-Key seen before is answered from its row;
otherwise an open slot of the store's lease at that time with enough seats becomes the
booking, ``confirmed`` at once (the store may be offline: it holds that table for HQ), and
the ``reservation.confirmed`` change tells the store; without one the booking is ``pending``
and ``reservation.request`` asks the store, which answers ``reservation.booked`` or
``reservation.rejected``. ``on_events`` runs inside the apply of a store's batch (once per
event); a lease the store asks back is released in that transaction for the slots HQ did
not use, and the store frees their tables only when that answer reaches it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import advance, record
from cloud.guests.sql import store_timezone
from common.clock import utc_now
from common.errors import DomainError
from common.ids import new_ulid
from common.reservations import (check_bookable, default_duration, dining_scene, epoch_min,
                                 local_window)

HOOKED: Final = frozenset({"reservation.booked", "reservation.moved", "reservation.changed",
                           "reservation.rejected", "booking.lease", "booking.lease_return",
                           "waitlist.issued", "waitlist.changed"})
COLUMNS: Final = ("id, local_id, code, status, reason, table_id, at_local, day, party, "
                  "duration_min, source, name, phone, note, member, scene, slot, created_at, "
                  "updated_at")


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


def view(row: dict[str, Any]) -> dict[str, Any]:
    found = {"id": row["id"], "status": row["status"], "table": row["table_id"],
             "at": row["at_local"], "day": row["day"], "party": row["party"],
             "duration_min": row["duration_min"], "source": row["source"],
             "name": row["name"], "note": row["note"], "member": row["member"],
             "scene": row["scene"], "created_at": row["created_at"],
             "updated_at": row["updated_at"]}
    if row.get("reason"):
        found["reason"] = row["reason"]
    return found


def get(db: Backend, store: str, reservation_id: str) -> dict[str, Any] | None:
    rows = db.rows(f"SELECT {COLUMNS} FROM reservations WHERE store = ? AND id = ?",
                   (store, reservation_id))
    return view(rows[0]) if rows else None


def list_day(db: Backend, store: str, day: str) -> list[dict[str, Any]]:
    return [view(r) for r in db.rows(
        f"SELECT {COLUMNS} FROM reservations WHERE store = ? AND day = ? "
        "ORDER BY at_local, id", (store, day))]


def open_slots(db: Backend, store: str, day: str) -> list[dict[str, Any]]:
    return db.rows("SELECT slot, lease, table_id, seats, at_local, duration_min, status "
                   "FROM booking_slots WHERE store = ? AND day = ? ORDER BY at_local, seats, "
                   "table_id", (store, day))


def book(db: Backend, store: str, key: str, body: dict[str, Any], body_sha256: str
         ) -> tuple[dict[str, Any], bool, int]:
    """(the booking, created, the store's new feed cursor or 0); raises ``Refused``."""
    now = utc_now_iso()
    with db.write():
        if db.execute("SELECT 1 FROM stores WHERE store = ?{FOR_UPDATE}",
                      (store,)).fetchone() is None:
            raise Refused(404, "unknown_store", {"store": store})
        seen = db.rows(f"SELECT body_sha256, {COLUMNS} FROM reservations "
                       "WHERE store = ? AND idem_key = ?", (store, key))
        if seen:
            if seen[0]["body_sha256"] != body_sha256:
                raise Refused(422, "idempotency_key_reused", {"key": key})
            return view(seen[0]), False, 0
        duration = body.get("duration_min") or default_duration(body["party"])
        try:
            window = local_window(body["at"], duration, store_timezone(db, store))
            check_bookable(window, utc_now())
        except DomainError as exc:
            raise Refused(exc.status, exc.code, exc.detail) from None
        slot = db.execute(
            "SELECT slot, table_id FROM booking_slots WHERE store = ? AND at_local = ? "
            "AND status = 'open' AND seats >= ? AND duration_min >= ? "
            "ORDER BY seats, table_id LIMIT 1",
            (store, window.at_local, body["party"], duration)).fetchone()
        row = {"id": new_ulid(), "status": "confirmed" if slot else "pending",
               "table_id": slot[1] if slot else None, "at_local": window.at_local,
               "day": window.day, "party": body["party"], "duration_min": duration,
               "source": body.get("source", "mini_program"), "name": body.get("name", ""),
               "phone": body.get("phone", ""), "note": body.get("note", ""),
               "slot": slot[0] if slot else None}
        db.execute("INSERT INTO reservations(store, id, status, table_id, at_local, day, party, "
                   "duration_min, source, name, phone, note, slot, idem_key, body_sha256, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                   "?, ?, ?)", (store, row["id"], row["status"], row["table_id"],
                                row["at_local"], row["day"], row["party"], duration,
                                row["source"], row["name"], row["phone"], row["note"],
                                row["slot"], key, body_sha256, now, now))
        change = {k: row[k] for k in ("id", "name", "party", "duration_min", "note", "source")}
        change.update(at=window.at_local, phone=row["phone"] or None)
        if slot:
            db.execute("UPDATE booking_slots SET status = 'used', reservation = ? "
                       "WHERE store = ? AND slot = ?", (row["id"], store, slot[0]))
            change["slot"] = slot[0]
        cursor = advance(db, [store])[store]
        record(db, [(store, cursor, "reservation.confirmed" if slot else "reservation.request",
                     None, change)])
        found = get(db, store, row["id"])
    assert found is not None
    return found, True, cursor


def cancel(db: Backend, store: str, reservation_id: str) -> tuple[dict[str, Any], int]:
    """The guest cancels an HQ booking: the store frees the table when the change reaches it
    (a slot HQ used is not offered again: the table is the store's once freed)."""
    with db.write():
        if db.execute("SELECT 1 FROM stores WHERE store = ?{FOR_UPDATE}",
                      (store,)).fetchone() is None:
            raise Refused(404, "unknown_reservation", {"id": reservation_id})
        found = get(db, store, reservation_id)
        if found is None or found["source"] not in ("mini_program", "platform") \
                or db.execute("SELECT idem_key FROM reservations WHERE store = ? AND id = ?",
                              (store, reservation_id)).fetchone()[0] is None:
            raise Refused(404, "unknown_reservation", {"id": reservation_id})
        if found["status"] not in ("confirmed", "pending", "booked"):
            raise Refused(409, "invalid_transition", {"from": found["status"],
                                                      "to": "cancelled"})
        db.execute("UPDATE reservations SET status = 'cancelled', updated_at = ? "
                   "WHERE store = ? AND id = ?", (utc_now_iso(), store, reservation_id))
        cursor = advance(db, [store])[store]
        record(db, [(store, cursor, "reservation.cancel", None, {"id": reservation_id})])
        again = get(db, store, reservation_id)
    assert again is not None
    return again, cursor


# -- the store's events (inside the apply of its batch) -----------------------------------------
def on_events(db: Backend, store: str, events: list[dict[str, Any]], now: str) -> dict[str, int]:
    """Project the store's reservation, lease and waitlist events; the feed cursors of the
    answers recorded (a released lease), for the caller to push."""
    pushed: dict[str, int] = {}
    for event in events:
        data, kind = event["data"], event["type"]
        if kind not in HOOKED or not isinstance(data, dict):
            continue
        try:
            if kind == "booking.lease":
                _leased(db, store, data)
            elif kind == "booking.lease_return":
                pushed.update(_release(db, store, str(data["lease"])))
            elif kind == "reservation.rejected":
                db.execute("UPDATE reservations SET status = 'rejected', reason = ?, "
                           "updated_at = ? WHERE store = ? AND id = ? AND status = 'pending'",
                           (str(data.get("reason"))[:60], now, store, str(data["hq_id"])))
            elif kind.startswith("reservation."):
                _reservation(db, store, kind, data, now)
            else:
                _ticket(db, store, kind, data, now)
        except (KeyError, TypeError, ValueError):
            continue  # a malformed event is kept raw in events; the projection skips it
    return pushed


def _leased(db: Backend, store: str, data: dict[str, Any]) -> None:
    db.insert_many(
        "INSERT INTO booking_slots(store, slot, lease, table_id, seats, at_local, day, "
        "duration_min, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open') "
        "ON CONFLICT (store, slot) DO NOTHING",
        [(store, str(s["id"]), str(data["lease"]), str(s["table"]), int(s["seats"]),
          str(data["at"]), str(data["day"]), int(data["duration_min"]))
         for s in data["slots"]])


def _release(db: Backend, store: str, lease: str) -> dict[str, int]:
    slots = [r[0] for r in db.execute("SELECT slot FROM booking_slots WHERE store = ? AND "
                                      "lease = ? AND status = 'open' ORDER BY slot",
                                      (store, lease)).fetchall()]
    if not slots:
        return {}
    db.execute("UPDATE booking_slots SET status = 'returned' WHERE store = ? AND lease = ? "
               "AND status = 'open'", (store, lease))
    cursor = advance(db, [store])[store]
    record(db, [(store, cursor, "booking.lease_released", None,
                 {"lease": lease, "slots": slots})])
    return {store: cursor}


def _reservation(db: Backend, store: str, kind: str, data: dict[str, Any], now: str) -> None:
    key = str(data.get("hq_id") or data["id"])
    if kind == "reservation.changed":
        status = str(data["to"])
        db.execute("UPDATE reservations SET status = ?, table_id = ?, updated_at = ? "
                   "WHERE store = ? AND id = ?", (status, data.get("table"), now, store, key))
        return
    at, party, note = str(data["at"]), int(data["party"]), str(data.get("note") or "")
    local = datetime.fromisoformat(at)
    scene = dining_scene(party, local.hour, local.isoweekday(), note)
    member = data.get("member") if isinstance(data.get("member"), str) else None
    exists = db.execute("SELECT status FROM reservations WHERE store = ? AND id = ?",
                        (store, key)).fetchone()
    if exists is None:
        db.execute("INSERT INTO reservations(store, id, local_id, code, status, table_id, "
                   "at_local, day, party, duration_min, source, name, phone, note, member, "
                   "scene, created_at, updated_at) VALUES (?, ?, ?, ?, 'booked', ?, ?, ?, ?, ?, "
                   "?, ?, ?, ?, ?, ?, ?, ?)",
                   (store, key, str(data["id"]), data.get("code"), data.get("table"), at,
                    str(data["day"]),
                    party, int(data["duration_min"]), str(data.get("source") or "phone"),
                    str(data.get("name") or ""), str(data.get("phone") or ""), note, member,
                    scene, now, now))
    else:  # HQ's own booking the store took (or a move): the store's table and times
        status = "confirmed" if exists[0] == "confirmed" else (
            "booked" if exists[0] in ("pending", "booked") else exists[0])
        db.execute("UPDATE reservations SET local_id = ?, code = COALESCE(?, code), "
                   "status = ?, table_id = ?, at_local = ?, day = ?, party = ?, "
                   "duration_min = ?, note = ?, member = COALESCE(?, member), scene = ?, "
                   "updated_at = ? WHERE store = ? AND id = ?",
                   (str(data["id"]), data.get("code"), status, data.get("table"), at,
                    str(data["day"]), party,
                    int(data["duration_min"]), note, member, scene, now, store, key))


def _ticket(db: Backend, store: str, kind: str, data: dict[str, Any], now: str) -> None:
    if kind == "waitlist.issued":
        db.execute("INSERT INTO waitlist_tickets(store, id, ticket, queue, party, day, source, "
                   "status, issued_at, wait_min, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                   "'waiting', ?, ?, ?) ON CONFLICT (store, id) DO NOTHING",
                   (store, str(data["id"]), str(data["ticket"]), str(data["queue"]),
                    int(data["party"]), str(data["day"]), str(data.get("source") or "staff"),
                    str(data["issued_at"]), _int_or_none(data.get("wait_min")), now))
        return
    waited = _int_or_none(data.get("waited_s")) if data.get("to") in ("called", "seated") \
        else None
    db.execute("UPDATE waitlist_tickets SET status = ?, waited_s = COALESCE(waited_s, ?), "
               "updated_at = ? WHERE store = ? AND id = ?",
               (str(data["to"]), waited, now, store, str(data["id"])))


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else None


# -- a replacement box (storenode restore) ----------------------------------------------------
# HQ's status -> the status the restored box holds the table with (a seating is not restored:
# a seated party is "arrived" there, staff seat it again)
RESTORED_STATUS: Final = {"confirmed": "booked", "booked": "booked", "arrived": "arrived",
                          "seated": "arrived"}


def for_restore(db: Backend, store: str) -> list[dict[str, Any]]:
    """The store's bookings and leased slots from yesterday on that hold a table, as a
    replacement box writes them (so it never books a table HQ or its guests hold)."""
    tz = store_timezone(db, store)
    since = (utc_now().astimezone(tz).date() - timedelta(days=1)).isoformat()
    rows = []
    for r in db.rows(f"SELECT {COLUMNS} FROM reservations WHERE store = ? AND day >= ? AND "
                     "table_id IS NOT NULL AND status IN ('confirmed', 'booked', 'arrived', "
                     "'seated') ORDER BY at_local, id", (store, since)):
        hq_made = r["local_id"] not in (None, r["id"])
        rows.append({**_restored_window(r["at_local"], r["duration_min"], tz),
                     "id": r["local_id"] or r["id"], "code": r["code"],
                     "status": RESTORED_STATUS[r["status"]], "table": r["table_id"],
                     "party": r["party"], "name": r["name"], "phone": r["phone"],
                     "note": r["note"], "source": r["source"], "member": r["member"],
                     "hq_id": r["id"] if hq_made else None, "lease": None})
    for s in db.rows("SELECT slot, lease, table_id, seats, at_local, duration_min FROM "
                     "booking_slots WHERE store = ? AND day >= ? AND status = 'open' "
                     "ORDER BY at_local, slot", (store, since)):
        rows.append({**_restored_window(s["at_local"], s["duration_min"], tz),
                     "id": s["slot"], "code": None, "status": "leased", "table": s["table_id"],
                     "party": s["seats"], "name": "", "phone": "", "note": "",
                     "source": "mini_program", "member": None, "hq_id": None,
                     "lease": s["lease"]})
    return rows


def _restored_window(at_local: str, duration_min: int, tz: Any) -> dict[str, Any]:
    starts = epoch_min(datetime.fromisoformat(at_local).replace(tzinfo=tz))
    return {"at": at_local, "day": at_local[:10], "starts": starts,
            "ends": starts + int(duration_min), "duration_min": int(duration_min)}


# -- reports ----------------------------------------------------------------------------------
def report(db: Backend, stores: list[str] | None, since: str, until: str) -> dict[str, Any]:
    """Bookings by store and day, no-shows by store and source, waits and their estimates,
    for shop-local days ``since`` to ``until`` (inclusive)."""
    where, params = "day >= ? AND day <= ?", [since, until]
    if stores:
        where += f" AND store IN ({','.join('?' * len(stores))})"
        params += stores
    by_day = db.rows(
        f"SELECT store, day, count(*) AS bookings, sum(party) AS guests, "
        f"sum(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END) AS no_shows, "
        f"sum(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS cancelled, "
        f"sum(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END) AS rejected "
        f"FROM reservations WHERE {where} GROUP BY store, day ORDER BY store, day", params)
    # the no-show rate counts the bookings whose time came: seated, completed or no-show
    shows = db.rows(
        f"SELECT store, source, sum(CASE WHEN status = 'no_show' THEN 1 ELSE 0 END) AS no_shows, "
        f"count(*) AS due FROM reservations WHERE {where} AND status IN "
        f"('no_show', 'seated', 'completed', 'arrived') GROUP BY store, source "
        f"ORDER BY store, source", params)
    waits = db.rows(
        f"SELECT store, queue, count(*) AS tickets, avg(waited_s) AS avg_wait_s, "
        f"avg(abs(waited_s - wait_min * 60)) AS mean_abs_error_s, "
        f"avg(waited_s - wait_min * 60) AS mean_error_s "
        f"FROM waitlist_tickets WHERE {where} AND waited_s IS NOT NULL AND wait_min IS NOT NULL "
        f"GROUP BY store, queue ORDER BY store, queue", params)
    for row in shows:
        row["no_show_rate"] = round(int(row["no_shows"]) / int(row["due"]), 4) \
            if row["due"] else None
    for row in waits:
        for name in ("avg_wait_s", "mean_abs_error_s", "mean_error_s"):
            row[name] = None if row[name] is None else round(float(row[name]), 1)
    return {"from": since, "to": until, "bookings": by_day, "no_shows": shows, "waits": waits}


# the bookings a scene counts: the guest kept them or may still (not rejected or cancelled)
_KEPT: Final = "status NOT IN ('rejected', 'cancelled')"
# a member's scenes are a profile: only of members who granted profiling (common/consent.py)
_PROFILING: Final = ("EXISTS (SELECT 1 FROM member_consents c WHERE c.member = {m} AND "
                     "c.purpose = 'profiling' AND c.granted = 1)")


def member_scenes(db: Backend, member: str) -> dict[str, int]:
    """A member's bookings by dining scene, every store (none without profiling consent)."""
    return {r["scene"]: int(r["n"]) for r in db.rows(
        f"SELECT scene, count(*) AS n FROM reservations WHERE member = ? AND {_KEPT} AND "
        f"{_PROFILING.format(m='reservations.member')} GROUP BY scene ORDER BY scene",
        (member,))}


def scene_counts(db: Backend, store: str | None = None, tenant: str | None = None
                 ) -> dict[str, int]:
    """Members by the dining scene they book most (ties: the scene of their latest booking),
    among the members who booked (at ``store``, of ``tenant``)."""
    where = f"r.member IS NOT NULL AND r.{_KEPT} AND {_PROFILING.format(m='r.member')}"
    params: list[str] = []
    if store:
        where, params = where + " AND r.store = ?", [store]
    if tenant:
        where, params = where + " AND s.tenant = ?", [*params, tenant]
    best: dict[str, tuple[int, str, str]] = {}
    for r in db.rows(f"SELECT r.member, r.scene, count(*) AS n, max(r.at_local) AS last "
                     f"FROM reservations r JOIN stores s ON s.store = r.store WHERE {where} "
                     f"GROUP BY r.member, r.scene", params):
        mark = (int(r["n"]), str(r["last"]), str(r["scene"]))
        if r["member"] not in best or mark > best[r["member"]]:
            best[r["member"]] = mark
    counts: dict[str, int] = {}
    for _, _, scene in best.values():
        counts[scene] = counts.get(scene, 0) + 1
    return counts
