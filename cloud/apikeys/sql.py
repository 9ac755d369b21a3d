"""SQL of HQ's API keys (table ``api_keys``, migration 0023_api_keys). A key's secret is
never stored: only its digest (``common.http.apikeys.digest``). Revoking keeps the row, with
who revoked it and when, beside who made it: the keys' audit."""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend
from common.http.apikeys import KeyFormat, digest

FORMAT: Final = KeyFormat("snk_")
COLUMNS: Final = ("id", "name", "scopes", "created_at", "created_by", "last_used_at",
                  "revoked_at", "revoked_by")
_SELECT: Final = f"SELECT {', '.join(COLUMNS)} FROM api_keys"


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "prefix": FORMAT.shown(row["id"]), "scopes": json.loads(row["scopes"])}


def add(db: Backend, name: str, scopes: list[str], by: str, at: str) -> dict[str, Any]:
    """A new key: its row and, under ``key``, the key itself (the only time it is seen)."""
    key_id, key = FORMAT.new()  # 48-bit ids: a clash is the primary key's to refuse
    db.execute("INSERT INTO api_keys(id, name, scopes, secret_hash, created_at, created_by) "
               "VALUES (?, ?, ?, ?, ?, ?)", (key_id, name, json.dumps(scopes), digest(key), at, by))
    return {**_shown({"id": key_id, "name": name, "scopes": json.dumps(scopes),
                      "created_at": at, "created_by": by, "last_used_at": None,
                      "revoked_at": None, "revoked_by": None}), "key": key}


def listing(db: Backend) -> list[dict[str, Any]]:
    """Every key, revoked ones too, newest first; never a secret nor its digest."""
    return [_shown(r) for r in db.rows(f"{_SELECT} ORDER BY created_at DESC, id")]


def get(db: Backend, key_id: str) -> dict[str, Any] | None:
    rows = db.rows(f"{_SELECT} WHERE id = ?", (key_id,))
    return _shown(rows[0]) if rows else None


def revoke(db: Backend, key_id: str, by: str, at: str) -> dict[str, Any] | None:
    """Revoke a key (a second time changes nothing: the first revocation stays on record);
    the key's row, None when there is no such key."""
    db.execute("UPDATE api_keys SET revoked_at = ?, revoked_by = ? "
               "WHERE id = ? AND revoked_at IS NULL", (at, by, key_id))
    return get(db, key_id)


def live(db: Backend, key_id: str) -> dict[str, Any] | None:
    """``{id, name, scopes, secret_hash, last_used_at}`` of a key that is not revoked."""
    rows = db.rows("SELECT id, name, scopes, secret_hash, last_used_at FROM api_keys "
                   "WHERE id = ? AND revoked_at IS NULL", (key_id,))
    return {**rows[0], "scopes": json.loads(rows[0]["scopes"])} if rows else None


def touch(db: Backend, key_id: str, at: str) -> None:
    db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at, key_id))
