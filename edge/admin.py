"""Python API behind the CLI: create a store, add staff, import a catalog, status."""

from __future__ import annotations

import csv
import json
import os
import secrets
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

from common.passwords import hash_pin
from common.vocabulary import CHANNELS
from sync.mqtt import BrokerUrl

from common.config import ConfigError
from edge.config import CONFIG_FILE, SECRET_FILE, STORE_ID, render_config
from edge.staff import sql as staffdb
from edge.staff.roles import ROLES
from edge.catalog import sql as catalog
from edge.syncer import sql as syncdb
from edge.db import outbox
from edge.db.connection import open_writer
from edge.db.database import db_path, migrate
from edge.db.group_commit import Tx, run_once

PIN_RULE = "4 to 12 digits"
def init_store(data_dir: Path, store_id: str, tenant: str = "default",
               timezone: str = "Asia/Shanghai", port: int = 8080) -> Path:
    """Create config, secret and database. Refuses to touch an existing store."""
    if not STORE_ID.match(store_id):
        raise ConfigError(f"store id must match {STORE_ID.pattern}")
    config = data_dir / CONFIG_FILE
    if config.exists() or db_path(data_dir).exists():
        raise FileExistsError(f"{data_dir} already holds a store; refusing to overwrite")
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = data_dir / SECRET_FILE
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
        os.fsync(fh.fileno())
    with config.open("w", encoding="utf-8") as fh:
        fh.write(render_config(store_id, tenant, timezone, port))
        fh.flush()
        os.fsync(fh.fileno())
    migrate(db_path(data_dir))
    dir_fd = os.open(data_dir, os.O_RDONLY)  # make the new directory entries durable too
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return config


def _connect(data_dir: Path) -> sqlite3.Connection:
    path = db_path(data_dir)
    if not path.exists():
        raise ConfigError(f"no store database in {data_dir}: run `storenode init` first")
    return open_writer(path)


def add_staff(data_dir: Path, store_id: str, staff_id: str, pin: str, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError(f"PIN must be {PIN_RULE}")
    conn = _connect(data_dir)
    try:
        run_once(conn, store_id, staffdb.add_staff, staff_id, role, hash_pin(pin))
    finally:
        conn.close()


def import_catalog(data_dir: Path, store_id: str, csv_path: Path, outlet: str | None,
                   initial_stock: int) -> int:
    """Load a catalog CSV (the shared demo format) and give every item initial stock."""
    with csv_path.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if outlet is None or r.get("outlet") == outlet]
    conn = _connect(data_dir)
    try:
        for row in rows:
            run_once(conn, store_id, _import_row, row, initial_stock)
    finally:
        conn.close()
    return len(rows)


def _import_row(tx: Tx, row: dict[str, str], initial_stock: int) -> None:
    # a column <channel>_price_cents per channel that has one (the demo: the platforms)
    prices = {ch: int(row[f"{ch}_price_cents"]) for ch in CHANNELS
              if row.get(f"{ch}_price_cents")}
    item: dict[str, Any] = {
        "sku": row["sku"], "name": row["name"], "name_en": row.get("name_en") or None,
        "category": row["category"], "station": row["station"],
        "price_cents": int(row["price_cents"]), "cost_cents": int(row["cost_cents"] or 0),
        "channel_prices": prices, "available": True, "track_stock": True,
    }
    catalog.create_item(tx, item, int(row.get("safety_stock") or 0))
    if initial_stock:
        catalog.record_movement(tx, row["sku"], initial_stock, "receipt", None, "initial stock")


def status(data_dir: Path) -> dict[str, Any]:
    conn = _connect(data_dir)
    try:
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("orders", "items", "staff")}
        return {**counts, **outbox.sync_counters(conn),
                "db_bytes": db_path(data_dir).stat().st_size}
    finally:
        conn.close()


def configure_sync(data_dir: Path, broker: str, username: str, password: str,
                   ca_file: str = "") -> None:
    """Set ``[sync]`` broker, username, password (and CA file) in edge.toml, atomically."""
    BrokerUrl.parse(broker)  # ValueError with a clear message
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path} not found: run `storenode init` first")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw.setdefault("sync", {}).update(broker=broker, username=username, password=password,
                                      ca_file=ca_file)
    tmp = path.with_suffix(".toml.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a password now
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(render_toml(raw))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def render_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Our config files are tables (and sub-tables such as ``[lockers.main]``) of strings,
    integers, booleans and lists of those: write them back as TOML."""
    out = ["# storenode edge settings (see docs/reference/edge-config.md).", ""]
    for section, values in tables.items():
        _render_table(out, section, values)
    return "\n".join(out)


def _render_table(out: list[str], name: str, values: dict[str, Any]) -> None:
    out.append(f"[{name}]")
    for key, value in values.items():
        if not isinstance(value, dict):
            out.append(f"{key} = {_toml_value(value)}")
    out.append("")
    for key, value in values.items():
        if isinstance(value, dict):
            _render_table(out, f"{name}.{key}", value)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (str, list)) else str(value)


def sync_status(data_dir: Path) -> dict[str, Any]:
    conn = _connect(data_dir)
    try:
        return syncdb.sync_state(conn)
    finally:
        conn.close()
