"""The Python API behind ``storenode metrics-key``: add, list, revoke. Runs beside a serving
daemon (one short write transaction each; the daemon sees a revocation at the next scrape).
The caller passes the store's loaded settings (``edge.config.load_settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from common.config import ConfigError
from common.errors import NotFound
from common.http.apikeys import ID_PATTERN, check_name, operator

from edge.db.connection import open_reader
from edge.db.database import write_once
from edge.scrapekeys import sql


class Store(Protocol):  # what of edge.config.Settings this needs
    @property
    def store_id(self) -> str: ...
    @property
    def db_path(self) -> Path: ...


def add_key(settings: Store, name: str) -> dict[str, Any]:
    """A new scrape key ``{id, name, key}``: the key is shown this once."""
    check_name(name)
    made: dict[str, Any] = write_once(settings.db_path, settings.store_id, sql.add, name,
                                      operator())
    return made


def list_keys(settings: Store) -> list[dict[str, Any]]:
    """Every key (no secret), on a read-only connection: no write lock taken."""
    if not settings.db_path.exists():
        raise ConfigError(f"no store database at {settings.db_path}: run `storenode init` first")
    conn = open_reader(settings.db_path)
    try:
        return sql.listing(conn)
    finally:
        conn.close()


def revoke_key(settings: Store, key_id: str) -> dict[str, Any]:
    if not ID_PATTERN.match(key_id):
        raise NotFound("unknown_key", {"key": key_id[:64]})
    found: dict[str, Any] = write_once(settings.db_path, settings.store_id, sql.revoke,
                                       key_id, operator())
    return found
