"""HQ settings: ``cloud.toml`` in the data dir, then ``STORENODE_CLOUD_<SECTION>_<KEY>`` overrides.

The file is optional (every key has a default), so ``storenode-cloud store add`` and ``run`` work on
a bare data dir; ``storenode-cloud init`` writes one. Values are validated at start-up and a bad
one gives a :class:`ConfigError` naming the file (or environment variable) and the key.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cloud.analytics import automation
from cloud.files import fsync_dir
from cloud.members.follow import MODES as FANOUT_MODES
from cloud.members.leases import LeasePolicy
from cloud.names import ID
from cloud.platforms import settings as platform_settings
from cloud.reports import forecast as forecast_rules
from cloud.reports import settlement as settlement_rules
from cloud.storage import retention
from common.config import validate_tables
from sync.mqtt import BrokerUrl

CONFIG_FILE = "cloud.toml"
SECRET_FILE = "secret.key"            # signs HQ bearer tokens
BROKER_PASSWORD_FILE = "broker.password"  # the cloud's own broker password (user `cloud`)
# the broker's `cloud-admin` user: provisioning only, may use nothing but the dynamic-security
# plugin's control topic (cloud/broker/dynsec.py)
BROKER_ADMIN_PASSWORD_FILE = "broker-admin.password"
CLOUD_USER = "cloud"
ENV_PREFIX = "STORENODE_CLOUD_"
# the ingest applies the batches waiting while it was busy as one transaction of at most this
# many bytes (ingest.group_bytes; docs/sync-protocol.md, "Group commit")
GROUP_BYTES = 2_000_000

# section -> key -> (type, default)
SCHEMA: dict[str, dict[str, tuple[type, Any]]] = {
    "db": {"url": (str, "")},
    "http": {"host": (str, "0.0.0.0"), "port": (int, 8090), "max_body_bytes": (int, 262144)},
    "broker": {"url": (str, ""), "username": (str, CLOUD_USER), "password": (str, ""),
               "keepalive": (int, 15), "ca_file": (str, "")},
    "auth": {"token_ttl_s": (int, 28800), "max_failures": (int, 5), "lockout_s": (int, 300)},
    "ingest": {"group_bytes": (int, GROUP_BYTES)},
    # what HQ leases to an online store per member (docs/members.md, offline allowance)
    "members": {"lease_points": (int, 1000), "lease_value": (int, 50000),
                "per_txn_points": (int, 500), "per_txn_value": (int, 20000),
                "lease_ttl_s": (int, 86400), "lease_share_pct": (int, 50),
                # where member changes go: every store of the tenant, or the stores that
                # follow the member (cloud/members/follow.py; a chain past a few hundred stores)
                "fanout": (str, "tenant")},
    # analytics job schedules and trigger settings (cloud/analytics/automation.py)
    **automation.config_schema(),
    # delivery-platform webhooks and callbacks (cloud/platforms/settings.py)
    **platform_settings.config_schema(),
    # partner settlement rules (cloud/reports/settlement.py, docs/settlement.md)
    **settlement_rules.config_schema(),
    # demand forecasts and purchase suggestions (cloud/reports/forecast.py)
    **forecast_rules.config_schema(),
    # retention of the raw events and conflicts, partitions ahead (cloud/storage/retention.py)
    **retention.config_schema(),
}
# key -> (low, high)
RANGES: dict[str, tuple[int, int]] = {
    "http.port": (0, 65535), "http.max_body_bytes": (1024, 16 << 20),
    "broker.keepalive": (5, 120), "auth.token_ttl_s": (60, 7 * 86400),
    "auth.max_failures": (1, 1000), "auth.lockout_s": (1, 86400),
    "ingest.group_bytes": (1, 64 << 20),
    "members.lease_points": (0, 100_000_000), "members.lease_value": (0, 100_000_000),
    "members.per_txn_points": (0, 100_000_000), "members.per_txn_value": (0, 100_000_000),
    "members.lease_ttl_s": (60, 30 * 86400), "members.lease_share_pct": (1, 100),
    f"scheduler.{automation.LEASE_TTL[0]}": automation.LEASE_TTL[2:],
    **forecast_rules.RANGES,
    **retention.RANGES,
}


class ConfigError(Exception):
    pass


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database: str
    host: str
    port: int
    max_body_bytes: int
    broker: str
    broker_username: str
    broker_password: str
    keepalive: int
    ca_file: str | None
    token_ttl_s: int
    max_failures: int
    lockout_s: int
    secret: bytes
    # members.* keys without the section: the lease caps (LeasePolicy's fields)
    members: dict[str, int] = field(default_factory=dict)
    # {job: {schedule, template?, thresholds}} from [scheduler] and [automation]
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler_lease_ttl_s: int = automation.LEASE_TTL[1]
    platforms: platform_settings.PlatformSettings = field(
        default_factory=platform_settings.PlatformSettings)
    settlement: settlement_rules.Rules = field(default_factory=settlement_rules.Rules)
    forecast: forecast_rules.Rules = field(default_factory=forecast_rules.Rules)
    broker_admin_password: str = ""
    storage: retention.Retention = field(default_factory=retention.Retention)
    ingest_group_bytes: int = GROUP_BYTES
    member_fanout: str = "tenant"

    @property
    def mosquitto_dir(self) -> Path:
        return self.data_dir / "mosquitto"


def default_database(data_dir: Path) -> str:
    return f"sqlite:///{data_dir.resolve() / 'cloud.db'}"


def render_config(database: str = "", broker: str = "", port: int = 8090) -> str:
    return (
        "# storenode cloud (HQ) settings. Every key can be overridden by the environment as\n"
        "# STORENODE_CLOUD_<SECTION>_<KEY>, e.g. STORENODE_CLOUD_HTTP_PORT=8091.\n"
        "[db]\n# sqlite:///ABSOLUTE/PATH.db or postgresql://USER@HOST:PORT/DB;"
        " empty = sqlite in the data dir\n"
        f"url = {_toml_str(database)}\n\n"
        f'[http]\nhost = "0.0.0.0"\nport = {port}\nmax_body_bytes = 262144\n\n'
        "[broker]\n# mqtt://HOST:PORT or mqtts://HOST:PORT; empty = no MQTT (API only)\n"
        f"url = {_toml_str(broker)}\n"
        f'username = "{CLOUD_USER}"\n# empty = the generated {BROKER_PASSWORD_FILE} in the data dir\n'
        'password = ""\nkeepalive = 15\nca_file = ""\n\n'
        "[auth]\ntoken_ttl_s = 28800\nmax_failures = 5\nlockout_s = 300\n\n"
        "[ingest]\n# batches waiting while the ingest applies go in one transaction of at "
        "most\n# this many bytes (1 = a batch a transaction)\n"
        f"group_bytes = {GROUP_BYTES}\n\n"
        f"{_render_jobs()}\n"
        "[members]\n# what HQ leases to an online store per member: points, value in fen\n"
        "lease_points = 1000\nlease_value = 50000\nper_txn_points = 500\n"
        "per_txn_value = 20000\nlease_ttl_s = 86400\n"
        "# at most this % of a member's balance per lease (several stores share it)\n"
        "lease_share_pct = 50\n"
        "# where member changes go: \"tenant\" (every store) or \"followers\" (the stores\n"
        "# that met the member; a chain of more than a few hundred stores)\n"
        "fanout = \"tenant\"\n"
        f"\n{_render_platforms()}\n{_render_settlement()}\n"
        + _render_section("forecast", forecast_rules.config_schema()["forecast"],
                          "weeks of history per forecast; purchase suggestions: lead time "
                          "and safety stock in days;",
                          'holidays: "YYYY-MM-DD,..." (UTC days); holiday_factor_pct: a '
                          "holiday's demand when the history has none")
        + "\n" + _render_section("storage", retention.config_schema()["storage"],
                                  "raw events kept (days received, 7..3650), then archived to "
                                  "archive/events/ in the data dir;",
                                  "PostgreSQL: daily partitions made ahead; resolved "
                                  "conflicts kept (days), then archived")
    )


def _render_jobs() -> str:
    """The [scheduler] and [automation] sections with their defaults."""
    lines = ["[scheduler]", "# one HQ process runs the jobs: PostgreSQL advisory lock, or on SQLite a lease",
             "# of lease_ttl_s; schedules: UTC crontab, 'every N s|m|h' or 'off'"]
    sections = automation.config_schema()
    lines += [f"{key} = {_toml_str(v) if isinstance(v, str) else v}"
              for key, (_, v) in sections["scheduler"].items()]
    lines += ["", "[automation]", '# coupon template of each trigger ("" = record only) and thresholds']
    lines += [f"{key} = {_toml_str(v) if isinstance(v, str) else v}"
              for key, (_, v) in sections["automation"].items()]
    return "\n".join(lines) + "\n"


def _render_section(name: str, keys: dict[str, tuple[type, Any]], *comments: str) -> str:
    """``[name]`` with its comments and every key at its default."""
    lines = [f"[{name}]", *(f"# {c}" for c in comments)]
    lines += [f"{key} = {_toml_str(v) if isinstance(v, str) else v}" for key, (_, v) in keys.items()]
    return "\n".join(lines) + "\n"


def _render_platforms() -> str:
    """The [platforms] section with its defaults (docs/platforms.md)."""
    return _render_section(
        "platforms", platform_settings.config_schema()["platforms"],
        'webhooks per platform (empty secret = off); shops: "SHOP=STORE,..."',
        "commission in basis points (1800 = 18 %), for the channel report")


def _render_settlement() -> str:
    return _render_section(
        "settlement", settlement_rules.config_schema()["settlement"],
        "partner settlement (docs/settlement.md): rates in basis points, visitors a day;",
        'tier_mode linear|stepped; shared_items: "SKU=CENTS,..." (the month\'s cost)')


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_settings(data_dir: Path, env: dict[str, str] | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
    """Read and validate; ``overrides`` (``{"http.port": 8091}``, from CLI flags) win over all."""
    env = dict(os.environ if env is None else env)
    path = data_dir / CONFIG_FILE
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    values = validate_tables(path, raw, env, SCHEMA, ENV_PREFIX, ConfigError)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    _check(path, values)
    return Settings(
        data_dir=data_dir,
        database=values["db.url"] or default_database(data_dir),
        host=values["http.host"],
        port=values["http.port"],
        max_body_bytes=values["http.max_body_bytes"],
        broker=values["broker.url"],
        broker_username=values["broker.username"],
        broker_password=values["broker.password"] or _read(data_dir / BROKER_PASSWORD_FILE),
        keepalive=values["broker.keepalive"],
        ca_file=values["broker.ca_file"] or None,
        token_ttl_s=values["auth.token_ttl_s"],
        max_failures=values["auth.max_failures"],
        lockout_s=values["auth.lockout_s"],
        secret=_secret(data_dir),
        broker_admin_password=_read(data_dir / BROKER_ADMIN_PASSWORD_FILE),
        members={f.name: values[f"members.{f.name}"] for f in fields(LeasePolicy)},
        jobs=automation.from_config(values),
        scheduler_lease_ttl_s=values[f"scheduler.{automation.LEASE_TTL[0]}"],
        platforms=platform_settings.from_config(values),
        settlement=settlement_rules.from_config(values),
        forecast=forecast_rules.from_config(values),
        storage=retention.from_config(values),
        ingest_group_bytes=values["ingest.group_bytes"],
        member_fanout=values["members.fanout"],
    )


def _check(path: Path, values: dict[str, Any]) -> None:
    if values["members.fanout"] not in FANOUT_MODES:
        raise ConfigError(f"{path}: members.fanout must be one of {', '.join(FANOUT_MODES)}")
    for key, (low, high) in RANGES.items():
        if not low <= values[key] <= high:
            raise ConfigError(f"{path}: {key} must be between {low} and {high}")
    url = values["db.url"]
    if url and not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(f"{path}: db.url must be sqlite:///ABSOLUTE/PATH or postgresql://…, "
                          f"got {url!r}")
    if values["broker.url"]:
        try:
            BrokerUrl.parse(values["broker.url"])
        except ValueError as exc:
            raise ConfigError(f"{path}: broker.url: {exc}") from exc
    if not ID.match(values["broker.username"]):
        raise ConfigError(f"{path}: broker.username must match {ID.pattern}")
    for job, settings in automation.from_config(values).items():
        for error in automation.check(job, settings):
            key = "scheduler." + job if error["path"] == "schedule" else \
                f"automation.{job}_{error['path']}"
            raise ConfigError(f"{path}: {key}: {error['message']}")
    for problem in [*platform_settings.check(values), *settlement_rules.check(values),
                    *forecast_rules.check(values)]:
        raise ConfigError(f"{path}: {problem}")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _secret(data_dir: Path) -> bytes:
    secret = _read(data_dir / SECRET_FILE)
    if len(secret) < 32:
        raise ConfigError(f"{data_dir / SECRET_FILE} missing or too short: run "
                          f"`storenode-cloud init --data-dir {data_dir}`")
    return secret.encode()


def ensure_data_dir(data_dir: Path) -> None:
    """Create the data dir, the token secret and the cloud's and the broker admin's
    passwords (0600) once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in (SECRET_FILE, BROKER_PASSWORD_FILE, BROKER_ADMIN_PASSWORD_FILE):
        path = data_dir / name
        if path.exists():
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another command made it just now
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    fsync_dir(data_dir)
