"""The Python API behind ``storenode tables``: add, list, rotate, print the QR sheet. Runs
beside a serving daemon (one short write transaction each). The caller passes the store's
loaded settings (``edge.config.load_settings``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from common.config import ConfigError

from edge.db.connection import open_reader
from edge.db.database import write_once
from edge.tables import sql
from edge.tables.settings import TableSettings
from edge.tables.qrsheet import guess_base_url, write_sheet


class Store(Protocol):  # what of edge.config.Settings this needs
    @property
    def store_id(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def tables(self) -> TableSettings: ...
    @property
    def db_path(self) -> Path: ...


def run_job(settings: Store, fn: Any, *args: Any) -> Any:
    try:
        return write_once(settings.db_path, settings.store_id, fn, *args)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from exc


def add_table(settings: Store, table_id: str, name: str, seats: int, area: str) -> dict[str, Any]:
    if not 1 <= seats <= 100:
        raise ValueError("seats must be from 1 to 100")
    if not 1 <= len(name) <= 40 or len(area) > 40:
        raise ValueError("name must be 1 to 40 characters, area at most 40")
    table: dict[str, Any] = run_job(settings, sql.add_table, table_id, name, seats, area)
    return table


def rotate(settings: Store, table_id: str) -> dict[str, Any]:
    table: dict[str, Any] = run_job(settings, sql.rotate_token, table_id)
    return table


def list_tables(settings: Store, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """A read on a read-only connection: it takes no write lock from a serving daemon."""
    if not settings.db_path.exists():
        raise ConfigError(f"no store database at {settings.db_path}: run `storenode init` first")
    conn = open_reader(settings.db_path)
    try:
        return sql.tables_for_cli(conn, ids)
    finally:
        conn.close()


def qr_sheet(settings: Store, ids: list[str], out: Path, base_url: str | None
             ) -> dict[str, Any]:
    """Write the PDF; what was printed: the pages, the tables and the base URL used."""
    tables = list_tables(settings, ids or None)
    if not tables:
        raise ValueError("no tables yet: add them with `storenode tables add`")
    base = (base_url or settings.tables.base_url or guess_base_url(settings.port)).rstrip("/")
    pages = write_sheet(tables, base, out)
    return {"out": str(out), "pages": pages, "tables": [t["id"] for t in tables],
            "base_url": base}
