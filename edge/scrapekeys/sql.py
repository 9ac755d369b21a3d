"""SQL of the scrape keys (table ``scrape_keys``, migration 0017_scrape_keys): local to this
box (no outbox event: HQ never sees them, a replacement box gets new ones). Only a key's
digest is stored (``common.http.apikeys.digest``)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any, Final

from common.clock import iso, utc_now, utc_now_iso
from common.errors import NotFound
from common.http.apikeys import TOUCH_EVERY_S, KeyFormat, digest

from edge.db.group_commit import Tx

FORMAT: Final = KeyFormat("snm_")
_SELECT: Final = ("SELECT id, name, created_at, created_by, last_used_at, revoked_at, "
                  "revoked_by FROM scrape_keys")


def _shown(row: sqlite3.Row) -> dict[str, Any]:
    return {**dict(row), "prefix": FORMAT.shown(row["id"])}


def add(tx: Tx, name: str, by: str) -> dict[str, Any]:
    """A new key: ``{id, name, key}``, the only time the key is seen."""
    key_id, key = FORMAT.new()
    tx.conn.execute("INSERT INTO scrape_keys(id, name, secret_hash, created_at, created_by) "
                    "VALUES (?, ?, ?, ?, ?)", (key_id, name, digest(key), utc_now_iso(), by))
    return {"id": key_id, "name": name, "key": key}


def listing(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every key, revoked ones too, newest first; never a secret nor its digest."""
    return [_shown(r) for r in conn.execute(f"{_SELECT} ORDER BY created_at DESC, id")]


def revoke(tx: Tx, key_id: str, by: str) -> dict[str, Any]:
    """Revoke a key (again: unchanged, the first revocation stays); 404 ``unknown_key``."""
    tx.conn.execute("UPDATE scrape_keys SET revoked_at = ?, revoked_by = ? "
                    "WHERE id = ? AND revoked_at IS NULL", (utc_now_iso(), by, key_id))
    row = tx.conn.execute(f"{_SELECT} WHERE id = ?", (key_id,)).fetchone()
    if row is None:
        raise NotFound("unknown_key", {"key": key_id})
    return _shown(row)


def live(conn: sqlite3.Connection, key_id: str) -> tuple[str, str | None] | None:
    """``(secret_hash, last_used_at)`` of a key that is not revoked."""
    row = conn.execute("SELECT secret_hash, last_used_at FROM scrape_keys "
                       "WHERE id = ? AND revoked_at IS NULL", (key_id,)).fetchone()
    return (row[0], row[1]) if row else None


def touch(tx: Tx, key_id: str) -> None:
    """Mark the key used now, unless a concurrent scrape did within the minute."""
    now = utc_now()
    tx.conn.execute("UPDATE scrape_keys SET last_used_at = ? WHERE id = ? AND "
                    "(last_used_at IS NULL OR last_used_at < ?)",
                    (iso(now), key_id, iso(now - timedelta(seconds=TOUCH_EVERY_S))))
