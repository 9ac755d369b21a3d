"""Edge settings: ``edge.toml`` in the data dir, then ``STORENODE_<SECTION>_<KEY>`` overrides.

Validated at start-up; a bad file gives a :class:`ConfigError` naming the file and key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from common.config import ConfigError, validate_tables
from sync.mqtt import BrokerUrl
from sync.publisher import LINGER_MS

from edge.backups.settings import BackupSettings
from edge.db.database import db_path
from edge.lockers.settings import LockerBank, parse_banks
from edge.printing import settings as print_settings
from edge.printing.settings import PrintSettings
from edge.probes.settings import ProbeSettings, parse_probes
from edge.tables.settings import TableSettings

CONFIG_FILE = "edge.toml"
SECRET_FILE = "secret.key"
STORE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# section -> key -> (type, default, check)
SCHEMA: dict[str, dict[str, tuple[type, Any]]] = {
    "store": {"id": (str, None), "tenant": (str, "default"), "timezone": (str, "Asia/Shanghai")},
    "http": {"host": (str, "0.0.0.0"), "port": (int, 8080), "max_body_bytes": (int, 65536)},
    "db": {"group_commit_max": (int, 64), "readers": (int, 4)},
    "auth": {"token_ttl_s": (int, 43200), "max_failures": (int, 5), "lockout_s": (int, 300)},
    "sync": {"broker": (str, ""), "username": (str, ""), "password": (str, ""),
             "ca_file": (str, ""), "keepalive_s": (int, 15), "batch_max": (int, 200),
             "window": (int, 8), "linger_ms": (int, LINGER_MS), "retain_hours": (int, 24),
             "max_clock_drift_s": (int, 300)},
    "print": {"header": (str, ""), "qr_url": (str, ""), "retry_base_ms": (int, 500),
              "retry_max_s": (int, 30), "failover_after": (int, 3)},
    "tables": {"self_open": (bool, True), "base_url": (str, "")},
    "guest": {"max_orders_per_min": (int, 10), "max_open_orders": (int, 5),
              "max_calls_per_min": (int, 6)},
    "backup": {"dir": (str, ""), "recipient": (str, ""), "keep": (int, 7),
               "every_min": (int, 60)},
}



@dataclass(frozen=True)
class Settings:
    data_dir: Path
    store_id: str
    tenant: str
    timezone: ZoneInfo
    host: str
    port: int
    max_body_bytes: int
    group_commit_max: int
    readers: int
    token_ttl_s: int
    max_failures: int
    lockout_s: int
    broker: str
    secret: bytes
    broker_username: str = ""
    broker_password: str = ""
    ca_file: str = ""
    keepalive_s: int = 15
    batch_max: int = 200
    window: int = 8
    linger_ms: int = LINGER_MS  # a short batch waits this long for the ack of the one in flight
    retain_hours: int = 24
    max_clock_drift_s: int = 300  # remote HLC timestamps further ahead are refused
    printing: PrintSettings = field(default_factory=lambda: _no_printing())  # [print], [printers.*]
    lockers: tuple[LockerBank, ...] = ()  # [lockers.<bank>]
    probes: ProbeSettings | None = None  # [probes], [probes.<zone>]
    tables: TableSettings = field(default_factory=lambda: TableSettings())  # [tables], [guest]
    backup: BackupSettings = field(default_factory=lambda: BackupSettings())  # [backup]

    @property
    def db_path(self) -> Path:
        return db_path(self.data_dir)


def render_config(store_id: str, tenant: str, timezone: str = "Asia/Shanghai",
                  port: int = 8080) -> str:
    return (
        "# storenode edge settings. Every key can be overridden by the environment as\n"
        "# STORENODE_<SECTION>_<KEY>, e.g. STORENODE_HTTP_PORT=8081.\n"
        f'[store]\nid = "{store_id}"\ntenant = "{tenant}"\ntimezone = "{timezone}"\n\n'
        f'[http]\nhost = "0.0.0.0"\nport = {port}\nmax_body_bytes = 65536\n\n'
        "[db]\ngroup_commit_max = 64\nreaders = 4\n\n"
        "[auth]\ntoken_ttl_s = 43200\nmax_failures = 5\nlockout_s = 300\n\n"
        '[sync]\nbroker = ""\nusername = ""\npassword = ""\nca_file = ""\nkeepalive_s = 15\n'
        "batch_max = 200\nwindow = 8\n"
        "# while a batch is in flight, a short one waits up to this long for its ack (0: no)\n"
        f"linger_ms = {LINGER_MS}\nretain_hours = 24\n"
        "# remote HLC timestamps more than this ahead of the local clock are refused\n"
        "max_clock_drift_s = 300\n"
    )


def load_settings(data_dir: Path, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    path = data_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path} not found: run `storenode init --data-dir {data_dir} --store ID`")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    printers = raw.pop("printers", {})  # one table per printer, checked by printing.settings
    lockers, probes = raw.pop("lockers", {}), raw.pop("probes", None)  # lockers/, probes/
    values = validate_tables(path, raw, env, SCHEMA, "STORENODE_")
    try:
        tz = ZoneInfo(values["store.timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{path}: store.timezone: unknown zone {values['store.timezone']!r}") from exc
    if not STORE_ID.match(values["store.id"]):
        raise ConfigError(f"{path}: store.id must match {STORE_ID.pattern}")
    for key, low, high in (("http.port", 0, 65535), ("db.group_commit_max", 1, 10000),
                           ("db.readers", 1, 64), ("http.max_body_bytes", 1024, 16 << 20),
                           ("sync.keepalive_s", 2, 120), ("sync.batch_max", 1, 5000),
                           ("sync.window", 1, 100), ("sync.linger_ms", 0, 2000),
                           ("sync.retain_hours", 0, 8760),
                           ("sync.max_clock_drift_s", 1, 86400),
                           ("guest.max_orders_per_min", 1, 600), ("guest.max_open_orders", 1, 100),
                           ("guest.max_calls_per_min", 1, 600), ("backup.keep", 1, 1000),
                           ("backup.every_min", 1, 10080)):
        if not low <= values[key] <= high:
            raise ConfigError(f"{path}: {key} must be between {low} and {high}")
    return Settings(
        data_dir=data_dir,
        store_id=values["store.id"],
        tenant=values["store.tenant"],
        timezone=tz,
        host=values["http.host"],
        port=values["http.port"],
        max_body_bytes=values["http.max_body_bytes"],
        group_commit_max=values["db.group_commit_max"],
        readers=values["db.readers"],
        token_ttl_s=values["auth.token_ttl_s"],
        max_failures=values["auth.max_failures"],
        lockout_s=values["auth.lockout_s"],
        broker=_broker_url(path, values["sync.broker"]),
        secret=_read_secret(data_dir),
        broker_username=values["sync.username"],
        broker_password=values["sync.password"],
        ca_file=values["sync.ca_file"],
        keepalive_s=values["sync.keepalive_s"],
        batch_max=values["sync.batch_max"],
        window=values["sync.window"],
        linger_ms=values["sync.linger_ms"],
        retain_hours=values["sync.retain_hours"],
        max_clock_drift_s=values["sync.max_clock_drift_s"],
        printing=load_print_settings(path, data_dir, printers, values),
        lockers=_lockers(path, lockers, env),
        probes=None if probes is None else _probes(path, probes, env),
        tables=TableSettings(
            self_open=values["tables.self_open"], base_url=values["tables.base_url"].rstrip("/"),
            max_orders_per_min=values["guest.max_orders_per_min"],
            max_open_orders=values["guest.max_open_orders"],
            max_calls_per_min=values["guest.max_calls_per_min"]),
        backup=_backup(path, values),
    )


def _backup(path: Path, values: dict[str, Any]) -> BackupSettings:
    found = BackupSettings(dir=values["backup.dir"], recipient=values["backup.recipient"],
                           keep=values["backup.keep"], every_min=values["backup.every_min"])
    if found.dir and not found.recipient.startswith("age1"):
        raise ConfigError(f"{path}: backup.recipient: the technician's age public key (age1…) "
                          "is required with backup.dir: storenode backup keygen --out FILE")
    return found


def _lockers(path: Path, tables: Any, env: dict[str, str]) -> tuple[LockerBank, ...]:
    return parse_banks(path, tables, env, ConfigError)


def _probes(path: Path, table: Any, env: dict[str, str]) -> ProbeSettings | None:
    return parse_probes(path, table, env, ConfigError)


def _no_printing() -> PrintSettings:
    return PrintSettings()


def load_print_settings(path: Path, data_dir: Path, tables: Any, values: dict[str, Any]
                        ) -> PrintSettings:
    return print_settings.load_print_settings(path, data_dir, tables, values)


def _broker_url(path: Path, url: str) -> str:
    if url:
        try:
            BrokerUrl.parse(url)
        except ValueError as exc:
            raise ConfigError(f"{path}: sync.broker: {exc}") from exc
    return url


def _read_secret(data_dir: Path) -> bytes:
    path = data_dir / SECRET_FILE
    try:
        secret = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} missing: the data dir was not made by `storenode init`") from exc
    if len(secret) < 32:
        raise ConfigError(f"{path}: secret too short")
    return secret
