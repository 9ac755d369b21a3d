"""``storenode restore``: a replacement box written from HQ's restore snapshot (ARCHITECTURE
§4e), fetched over the store's own topics with the credentials ``storenode-cloud store
replace`` printed.

Each chunk is written in its own transaction together with how far the restore got
(``meta.restore_chunk``), so a restore cut off at any point resumes from the next chunk of the
same snapshot (HQ keeps it for half an hour; after that, or after an HQ restart, the partial
database is set aside and the restore starts again). ``edge.toml`` is written last: a data dir
with one holds a store and is refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from common.clock import iso, utc_now
from common.config import ConfigError
from sync import messages, topics
from sync.changes import check_change
from sync.mqtt import MqttClient

from edge.backups.local import decrypt
from edge.catalog.sql import ITEM_FIELDS, _item_values
from edge.config import CONFIG_FILE, SECRET_FILE, render_config
from edge.db.connection import open_writer
from edge.db.database import db_path, migrate
from edge.db.group_commit import Tx, run_once
from edge.orders.reads import get_order
from edge.syncer import box
from edge.syncer.sql import apply_down, meta_int
from edge.reservations.rules import new_code
from edge.tables.sql import new_token, token_hash

log = logging.getLogger(__name__)

NUMBER_GAP: Final = 100  # restore.number_gap: order numbers a superseded box may have used
BOX_USER: Final = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62})@e([0-9]{1,9})$")
Progress = Callable[[int, int], None]


class RestoreError(Exception):
    """The restore cannot go on (HQ refused, the broker is unreachable, ...)."""


class Interrupted(RestoreError):
    """Stopped on purpose after ``stop_after`` chunks (tests of resuming)."""


def box_identity(username: str) -> tuple[str, int]:
    """``(store, epoch)`` of a replacement box's broker user ``<store>@e<N>``."""
    found = BOX_USER.match(username)
    if found is None or int(found[2]) < 2:
        raise ConfigError("the username must be a replacement box's, <store>@e<N> as "
                          "`storenode-cloud store replace` printed it")
    return found[1], int(found[2])


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set(tx: Tx, **values: Any) -> None:
    for key, value in values.items():
        tx.conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
                        "SET value = excluded.value", (key, str(value)))


# -- one writer per section: fn(tx, rows), no events (HQ has all of it already) -------------
def _w_meta(tx: Tx, rows: list[dict[str, Any]]) -> None:
    (meta,) = rows
    box.set_epoch(tx.conn, int(meta["epoch"]))
    _set(tx, restore_cursor=int(meta["cursor"]), restored_seq=int(meta["restored_seq"]),
         restore_tenant=meta["tenant"], restore_config=json.dumps(meta.get("config")))


def _w_changes(tx: Tx, rows: list[dict[str, Any]]) -> None:
    changes = []
    for row in rows:
        change = {"cursor": 1, "type": row.get("type"), "data": row.get("data")}
        reason = check_change(change)
        if reason:
            change["invalid"] = reason
        changes.append(change)
    apply_down(tx, {"cursor": 0, "from_cursor": 0, "snapshot": True, "changes": changes})


def _w_items(tx: Tx, rows: list[dict[str, Any]]) -> None:
    cols = ", ".join(("sku",) + ITEM_FIELDS + ("updated_at",))
    sets = ", ".join(f"{f} = excluded.{f}" for f in ITEM_FIELDS)
    for item in rows:
        tx.conn.execute(f"INSERT INTO items({cols}) VALUES ({','.join('?' * (len(ITEM_FIELDS) + 2))}) "
                        f"ON CONFLICT(sku) DO UPDATE SET {sets}",
                        [item["sku"], *_item_values(item), iso(utc_now())])
        if item.get("track_stock", True):
            tx.conn.execute("INSERT OR IGNORE INTO stock(sku) VALUES (?)", (item["sku"],))


def _w_quotas(tx: Tx, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for channel, limit in row["quotas"].items():
            if isinstance(limit, int):
                tx.conn.execute("INSERT INTO quotas(sku, channel, daily_limit) VALUES (?,?,?) "
                                "ON CONFLICT(sku, channel) DO UPDATE SET "
                                "daily_limit = excluded.daily_limit", (row["sku"], channel, limit))


def _w_stock(tx: Tx, rows: list[dict[str, Any]]) -> None:
    at = iso(utc_now())
    for row in rows:
        if tx.conn.execute("UPDATE stock SET on_hand = ? WHERE sku = ?",
                           (int(row["on_hand"]), row["sku"])).rowcount:
            tx.conn.execute("INSERT INTO stock_movements(sku, delta, reason, ref, at) "
                            "VALUES (?, ?, 'restore', NULL, ?)", (row["sku"], row["on_hand"], at))


def _w_staff(tx: Tx, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        tx.conn.execute("INSERT OR REPLACE INTO staff(id, role, pin_hash, active, created_at) "
                        "VALUES (?, ?, ?, ?, ?)", (row["staff"], row["role"], row["pin_hash"],
                                                   int(row["active"]), iso(utc_now())))


def _w_tables(tx: Tx, rows: list[dict[str, Any]]) -> None:
    for row in rows:  # a new token each: HQ never had the old ones (reprint the QR sheet)
        tx.conn.execute("INSERT OR IGNORE INTO dining_tables(id, name, area, seats, token, "
                        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (row["id"], row["name"], row["area"], int(row["seats"]), new_token(),
                         iso(utc_now())))


def _w_reservations(tx: Tx, rows: list[dict[str, Any]]) -> None:
    """The bookings and HQ's leased slots that hold a table (after the tables' chunk); the
    triggers still guard them: a row that would overlap is left out, not the chunk."""
    at = iso(utc_now())
    for r in rows:
        try:
            tx.conn.execute(
                "INSERT OR IGNORE INTO reservations(id, code, status, table_id, starts, ends, "
                "at_local, day, party, duration_min, name, phone, note, source, member_id, "
                "hq_id, lease_id, created_at, updated_at) VALUES "
                "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (r["id"], r["code"] or new_code(), r["status"], r["table"], r["starts"],
                 r["ends"], r["at"], r["day"], r["party"], r["duration_min"], r["name"],
                 r["phone"], r["note"], r["source"], r["member"], r["hq_id"], r["lease"], at,
                 at))
        except sqlite3.IntegrityError as exc:
            log.warning("restore: booking %s not written: %s", r["id"], exc)


def _w_orders(tx: Tx, rows: list[dict[str, Any]]) -> None:
    for o in rows:
        if not o.get("day") or o.get("number") is None:
            continue
        tx.conn.execute(
            "INSERT OR IGNORE INTO orders(id, number, day, channel, status, total_cents, member, "
            "table_no, pickup, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (o["id"], o["number"], o["day"], o["channel"] or "pos", o["status"],
             o["total_cents"], o["member"], o["table_no"], int(bool(o["pickup"])),
             o["created_at"], o["updated_at"]))
        for ln in o["lines"]:
            tx.conn.execute(
                "INSERT OR IGNORE INTO order_lines(order_id, line_no, sku, name, qty, unit_cents, "
                "total_cents, station, note, price_rule) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (o["id"], ln["line_no"], ln["sku"], ln["name"] or ln["sku"], ln["qty"],
                 ln["unit_cents"] or 0, ln["total_cents"] or 0, ln["station"] or "", ln["note"],
                 ln.get("price_rule")))


def _w_numbers(tx: Tx, rows: list[dict[str, Any]], gap: int = NUMBER_GAP) -> None:
    for row in rows:  # the day's numbers go on after the last HQ knows of, plus a gap
        tx.conn.execute("INSERT INTO order_number_floors(day, last) VALUES (?, ?) ON CONFLICT(day) "
                        "DO UPDATE SET last = MAX(last, excluded.last)",
                        (row["day"], int(row["last"]) + gap))


WRITERS: Final[dict[str, Callable[[Tx, list[dict[str, Any]]], None]]] = {
    "meta": _w_meta, "changes": _w_changes, "items": _w_items, "quotas": _w_quotas,
    "stock": _w_stock, "staff": _w_staff, "tables": _w_tables,
    "reservations": _w_reservations, "orders": _w_orders,
    "numbers": _w_numbers}


def _chunk(tx: Tx, chunk: dict[str, Any]) -> None:
    writer = WRITERS.get(chunk["section"])
    if writer is not None:  # a section this version does not know: skipped
        writer(tx, chunk["rows"])
    _set(tx, restore_snapshot=chunk["snapshot"], restore_chunk=chunk["chunk"])


def _finish(tx: Tx) -> dict[str, Any]:
    """The new epoch starts clean: nothing of the restore goes up (HQ holds it), the feed goes
    on from the snapshot's cursor; the tables' new tokens are the box's first events."""
    tx.conn.execute("DELETE FROM outbox")
    tx.outbox.last_seq = 0
    _set(tx, outbox_last_seq=0, outbox_acked_seq=0, print_cursor=0,
         down_cursor=meta_int(tx.conn, "restore_cursor"))
    for table_id, token in tx.conn.execute("SELECT id, token FROM dining_tables").fetchall():
        tx.emit("table.token_rotated", {"table": table_id, "token_sha256": token_hash(token)})
    # HQ does not know which tickets printed: an order the kitchen had not taken yet prints
    # again here (a second ticket is better than none); the others are being made already
    for (order_id,) in tx.conn.execute("SELECT id FROM orders WHERE status = 'placed' "
                                       "ORDER BY created_at, id").fetchall():
        tx.emit("order.restored", {"order": get_order(tx.conn, order_id)})
    return {"orders": tx.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0],
            "members": tx.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]}


def sync_config(text: str, broker: str, username: str, password: str, ca_file: str) -> str:
    """``text`` (an edge.toml) with its [sync] connection set to these credentials."""
    values = {"broker": broker, "username": username, "password": password, "ca_file": ca_file}
    ours = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    out: list[str] = []
    section, placed = "", False
    for line in text.splitlines():
        header = re.match(r"^\s*\[([^\]]+)\]", line)
        if header:
            section = header[1].strip()
        key = re.match(r"^\s*([a-z_]+)\s*=", line)
        if section == "sync" and key and key[1] in values:
            continue  # set below the header
        out.append(line)
        if header and section == "sync":
            out += ours
            placed = True
    if not placed:
        out += ["", "[sync]", *ours]
    return "\n".join(out) + "\n"


def _write_file(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


async def restore_from_hq(data_dir: Path, broker: str, username: str, password: str,
                          ca_file: str = "", *, timeout_s: float = 120.0,
                          progress: Progress | None = None,
                          stop_after: int | None = None) -> dict[str, Any]:
    """Restore the store into ``data_dir``; the JSON of ARCHITECTURE §4e."""
    started = time.monotonic()
    store, epoch = box_identity(username)
    if (data_dir / CONFIG_FILE).exists():
        raise FileExistsError(f"{data_dir} already holds a store; refusing to overwrite")
    path = db_path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    resume: tuple[str, int] | None = None
    if path.exists():
        conn = open_writer(path)
        try:
            snapshot, chunk = _meta(conn, "restore_snapshot"), _meta(conn, "restore_chunk")
            theirs = _meta(conn, "epoch")
        finally:
            conn.close()
        if snapshot is None or chunk is None or theirs != str(epoch):
            raise FileExistsError(f"{path} holds a database that is not a restore of this "
                                  "box in progress; refusing to touch it")
        resume = (snapshot, int(chunk) + 1)
    else:
        migrate(path)

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    request_id = secrets.token_hex(8)

    def on_message(_topic: str, payload: bytes) -> None:
        try:
            message = messages.parse_snapshot(payload)
        except messages.MessageError:
            return
        if message["request"] == request_id:
            inbox.put_nowait(message)

    client = MqttClient(broker, f"edge-{username}", username=username, password=password,
                        ca_file=ca_file or None)
    client.on_message = on_message
    conn = open_writer(path)
    try:
        client.start()
        async with asyncio.timeout(timeout_s):
            await client.connected.wait()
            codes = await client.subscribe([f"{topics.PREFIX}/+/{store}/snapshot"])
            if any(code >= 0x80 for code in codes):
                raise RestoreError("the broker refused the snapshot subscription: check the "
                                   "username and password")
            written = await _fetch(client, conn, store, epoch, request_id, inbox, resume,
                                   progress, stop_after, path)
        counts = run_once(conn, store, _finish)
        config_text = json.loads(_meta(conn, "restore_config") or "null")
        tenant = _meta(conn, "restore_tenant") or "default"
        restored_seq = int(_meta(conn, "restored_seq") or 0)
    except TimeoutError as exc:
        raise RestoreError(f"no answer from HQ within {timeout_s:.0f} s (the broker "
                           f"reachable? HQ running?); run the same command again to resume"
                           ) from exc
    finally:
        conn.close()
        await client.close()
    text = config_text or render_config(store, tenant)
    secret = data_dir / SECRET_FILE
    if not secret.exists():
        _write_file(secret, secrets.token_bytes(32), 0o600)
    _write_file(data_dir / CONFIG_FILE,
                sync_config(text, broker, username, password, ca_file).encode(), 0o640)
    return {"store": store, "epoch": epoch, "restored_seq": restored_seq,
            "orders": counts["orders"], "members": counts["members"],
            "chunks": written, "seconds": round(time.monotonic() - started, 2)}


async def _fetch(client: MqttClient, conn: sqlite3.Connection, store: str, epoch: int,
                 request_id: str, inbox: asyncio.Queue[dict[str, Any]],
                 resume: tuple[str, int] | None, progress: Progress | None,
                 stop_after: int | None, path: Path) -> int:
    """Ask for the snapshot (or its rest) and write each chunk as it comes, in order."""
    snapshot, expected = resume if resume else (None, 0)
    request = messages.restore_request(request_id, epoch, snapshot, expected)
    await client.publish(topics.topic("any", store, "restore"), messages.encode(request))
    written = 0
    while True:
        message = await inbox.get()
        if "error" in message:
            if message["error"] == "snapshot_gone":
                raise RestoreError(f"HQ no longer has the snapshot this restore began: move "
                                   f"{path} aside and run the same command again")
            raise RestoreError(f"HQ refused: {message['error']}")
        if message["chunk"] != expected or (snapshot and message["snapshot"] != snapshot):
            continue  # a duplicate (QoS 1) or a stray: the next one we need comes in order
        run_once(conn, store, _chunk, message)
        snapshot, expected, written = message["snapshot"], expected + 1, written + 1
        if progress is not None:
            progress(expected, message["chunks"])
        if expected == message["chunks"]:
            return written
        if stop_after is not None and written >= stop_after:
            raise Interrupted(f"stopped after {written} chunks")


# -- from a local backup (``storenode restore --from-backup``) --------------------------------
SQLITE_HEADER: Final = b"SQLite format 3\x00"


def restore_from_backup(backup: Path, data_dir: Path, broker: str, username: str,
                        password: str, ca_file: str = "", identity: Path | None = None,
                        tenant: str | None = None) -> dict[str, Any]:
    """A replacement box from a local backup (``storenode db backup`` or an encrypted copy
    with the technician's ``identity``), with no HQ needed now: it serves at once under the
    new epoch. The backup's events HQ may lack go up as the old box's at the first connection
    (edge/syncer/prior.py), and HQ then sends the stock the old box moved after the backup."""
    started = time.monotonic()
    store, epoch = box_identity(username)
    path = db_path(data_dir)
    if (data_dir / CONFIG_FILE).exists() or path.exists():
        raise FileExistsError(f"{data_dir} already holds a store; refusing to overwrite")
    data_dir.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(path.name + ".restoring")
    staged.unlink(missing_ok=True)
    try:
        with backup.open("rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            if identity is None:
                raise RestoreError(f"{backup} is not a SQLite database: an encrypted copy "
                                   "needs --identity (the technician's key)")
            decrypt(backup, identity, staged)
        else:
            shutil.copyfile(backup, staged)
        migrate(staged)  # a backup of an older version: its schema brought up to date
        conn = open_writer(staged)
        try:
            found = run_once(conn, store, _rebase, epoch)
            config_text = _meta(conn, "config_toml")
        finally:
            conn.close()
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    text = config_text or render_config(store, tenant or "default")
    if not (data_dir / SECRET_FILE).exists():
        _write_file(data_dir / SECRET_FILE, secrets.token_bytes(32), 0o600)
    _write_file(data_dir / CONFIG_FILE,
                sync_config(text, broker, username, password, ca_file).encode(), 0o640)
    return {"store": store, "epoch": epoch, **found,
            "seconds": round(time.monotonic() - started, 2)}


def _rebase(tx: Tx, epoch: int, gap: int = NUMBER_GAP) -> dict[str, Any]:
    """The backup's box becomes box ``epoch``: its unacknowledged events move to
    ``outbox_prior`` under the old epoch, the new epoch's outbox starts at seq 1, and each
    recent day's numbers go on after the backup's last plus the gap."""
    old = meta_int(tx.conn, "epoch") or 1
    if old >= epoch:
        raise RestoreError(f"the backup is of box {old}: the new box must have a later epoch "
                           f"(storenode-cloud store replace), not {epoch}")
    last, acked = meta_int(tx.conn, "outbox_last_seq"), meta_int(tx.conn, "outbox_acked_seq")
    tx.conn.execute("DELETE FROM outbox_prior")
    tx.conn.execute("INSERT INTO outbox_prior(seq, event_id, type, v, at, hlc, data, head) "
                    "SELECT seq, event_id, type, v, at, hlc, data, head FROM outbox "
                    "WHERE seq > ?", (acked,))
    tx.conn.execute("DELETE FROM outbox")
    tx.outbox.last_seq = 0
    tx.conn.execute("DELETE FROM meta WHERE key = 'superseded_at'")
    box.set_epoch(tx.conn, epoch)
    _set(tx, prior_epoch=old, prior_last_seq=last, prior_acked_seq=acked, outbox_last_seq=0,
         outbox_acked_seq=0, print_cursor=0, sync_bd_seq=0)
    tx.conn.execute("INSERT INTO order_number_floors(day, last) SELECT day, MAX(number) + ? "
                    "FROM orders WHERE day >= (SELECT MAX(day) FROM orders) GROUP BY day "
                    "ON CONFLICT(day) DO UPDATE SET last = MAX(last, excluded.last)", (gap,))
    count = tx.conn.execute("SELECT COUNT(*) FROM outbox_prior").fetchone()[0]
    return {"restored_seq": acked, "backup_seq": last, "to_send": count,
            "orders": tx.conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0],
            "members": tx.conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]}
