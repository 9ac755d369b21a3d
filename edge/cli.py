"""``storenode``: the technicians' command line, a thin shell over the Python API."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from common.errors import DomainError
from drivers.printer import PrinterError

from edge import admin as service
from common.config import ConfigError
from edge.config import load_settings
from edge.staff.roles import ROLES
from edge.db import export
from edge.db.database import backup, check_integrity, db_path, migrate
from edge.devices.doctor import run_checks
from edge.devices.lifecycle import add_demo_devices
from edge.devices.printers import add_demo_printers, reprint_order, test_printer
from edge.devices.technician import (TechnicianError, locker_open as open_compartment,
                                     probe_scan as scan)
from edge.server import serve
from edge.tables import commands as floor
from edge.scrapekeys import commands as scrape_keys
from edge.backups import commands as backups, local as local_backups
from edge.syncer.restore import RestoreError, restore_from_backup, restore_from_hq

DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="STORENODE_DATA_DIR",
    required=True, help="Store data directory (or STORENODE_DATA_DIR).",
)


DEMO_TABLES = (("A1", "A1", 4, "hall"), ("A2", "A2", 4, "hall"), ("A3", "A3", 2, "hall"),
               ("R1", "包间1", 10, "rooms"))


def _out(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group()
@click.version_option(package_name="storenode")
def cli() -> None:
    """storenode edge daemon: orders, stock and devices of one shop."""


@cli.command()
@DATA_DIR
@click.option("--store", "store_id", required=True, help="Store id, e.g. canteen-01.")
@click.option("--tenant", default="default", show_default=True)
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Demo catalog (stock 100 per item), simulated devices, four tables.")
def init(data_dir: Path, store_id: str, tenant: str, timezone: str, port: int, demo: bool) -> None:
    """Create a store's config, secret and database; never overwrites one.

    Example: storenode init --data-dir /var/lib/storenode --store canteen-01 --tenant acme
    """
    try:
        config = service.init_store(data_dir, store_id, tenant, timezone, port)
        load_settings(data_dir)
    except (FileExistsError, ConfigError) as exc:
        _fail(str(exc))
    result: dict[str, Any] = {"store": store_id, "config": str(config)}
    if demo:
        add_demo_printers(data_dir)  # simulated printers: tickets go to files in the data dir
        add_demo_devices(data_dir)  # a simulated locker bank and BLE probes
        catalog = Path(__file__).resolve().parent.parent / "config" / "demo" / "catalog.csv"
        result["items"] = service.import_catalog(data_dir, store_id, catalog, None, 100)
        settings = load_settings(data_dir)  # a few tables to order from by QR (/t/{token})
        result["tables"] = [floor.add_table(settings, *t)["url"] for t in DEMO_TABLES]
    _out(result)


@cli.command()
@DATA_DIR
@click.option("--host", default=None, help="Listen address (default from edge.toml).")
@click.option("--port", default=None, type=int, help="Listen port (default from edge.toml).")
def run(data_dir: Path, host: str | None, port: int | None) -> None:
    """Serve the LAN API and pages until SIGTERM, then shut down cleanly.

    Example: storenode run --data-dir /var/lib/storenode --port 8080
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings(data_dir)
    except ConfigError as exc:
        _fail(str(exc))
    asyncio.run(serve(settings, host or settings.host, settings.port if port is None else port))


@cli.command()
@DATA_DIR
def status(data_dir: Path) -> None:
    """Show the store's counts, outbox backlog and whether the daemon answers.

    Example: storenode status --data-dir /var/lib/storenode
    """
    try:
        settings = load_settings(data_dir)
        result = service.status(data_dir)
    except ConfigError as exc:
        _fail(str(exc))
    result["store"] = settings.store_id
    url = f"http://127.0.0.1:{settings.port}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (local daemon)
            result["daemon"] = json.loads(resp.read())
    except OSError as exc:
        result["daemon"] = {"status": "not running", "detail": str(exc)}
    _out(result)


@cli.group()
def staff() -> None:
    """Staff accounts."""


@staff.command("add")
@click.argument("staff_id")
@click.option("--pin", required=True, help=f"PIN, {service.PIN_RULE}.")
@click.option("--role", required=True, type=click.Choice(ROLES))
@DATA_DIR
def staff_add(staff_id: str, pin: str, role: str, data_dir: Path) -> None:
    """Add a staff member with a PIN (stored as a scrypt hash).

    Example: storenode staff add ana --pin 4821 --role cashier --data-dir /var/lib/storenode
    """
    try:
        settings = load_settings(data_dir)
        service.add_staff(data_dir, settings.store_id, staff_id, pin, role)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    except DomainError as exc:
        _fail(f"{exc.code}: {exc.detail}")
    _out({"staff": staff_id, "role": role})


@cli.group()
def catalog() -> None:
    """Catalog maintenance."""


@catalog.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--outlet", default=None, help="Only rows of this outlet column value.")
@click.option("--stock", default=0, show_default=True, type=int, help="Initial stock per item.")
@DATA_DIR
def catalog_import(csv_file: Path, outlet: str | None, stock: int, data_dir: Path) -> None:
    """Load items from a catalog CSV (columns as in config/demo/catalog.csv).

    Example: storenode catalog import config/demo/catalog.csv --outlet canteen --data-dir var
    """
    try:
        settings = load_settings(data_dir)
        count = service.import_catalog(data_dir, settings.store_id, csv_file, outlet, stock)
    except (ConfigError, KeyError, ValueError) as exc:
        _fail(f"cannot import {csv_file}: {exc}")
    except DomainError as exc:
        _fail(f"{exc.code}: {exc.detail}")
    _out({"imported": count})


@cli.command()
@DATA_DIR
@click.option("--broker", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT.")
@click.option("--username", required=True,
              help="The new box's broker user, <store>@e<N>, from `storenode-cloud store replace`.")
@click.option("--password", required=True, help="Its password, from the same command.")
@click.option("--ca-file", default="", help="CA bundle for mqtts:// (default: the system's).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True,
              type=click.FloatRange(1, 3600), help="Give up after this long without HQ.")
@click.option("--from-backup", "backup", default=None,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Restore from this local backup instead (no HQ needed now); caught up "
                   "with HQ at the first connection.")
@click.option("--identity", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="With --from-backup: the technician's key, for an encrypted copy.")
@click.option("--tenant", default=None,
              help="With --from-backup: the store's tenant, if the backup predates this "
                   "version (it keeps the configuration since).")
def restore(data_dir: Path, broker: str, username: str, password: str, ca_file: str,
            timeout_s: float, backup: Path | None, identity: Path | None,
            tenant: str | None) -> None:
    """Write a replacement box from HQ: config, staff, catalog, prices, stock, members, tables,
    today's and the open orders; prints what it restored. Cut off, the same command resumes.
    With --from-backup, from a local backup instead.

    Example: storenode restore --data-dir /var/lib/storenode --broker mqtts://mq.example.com:8883 --username canteen-01@e2 --password '...'
    """
    def progress(done: int, total: int) -> None:
        click.echo(f"\rrestoring: {done}/{total} chunks ({100 * done // total} %)", err=True,
                   nl=done == total)

    try:
        if backup is not None:
            result = restore_from_backup(backup, data_dir, broker, username, password,
                                         ca_file, identity, tenant)
        else:
            result = asyncio.run(restore_from_hq(data_dir, broker, username, password,
                                                 ca_file, timeout_s=timeout_s,
                                                 progress=progress))
    except (RestoreError, FileExistsError, ConfigError, OSError, ValueError,
            local_backups.BackupError) as exc:
        _fail(str(exc))
    _out(result)


@cli.group()
def db() -> None:
    """Database maintenance: backup, check, export, migrate."""


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@DATA_DIR
def db_backup(target: Path, data_dir: Path) -> None:
    """Copy the live database with SQLite's online backup (safe while running).

    Example: storenode db backup /mnt/usb/store-2026-11-23.db --data-dir /var/lib/storenode
    """
    try:
        size = backup(db_path(data_dir), target)
        recorded = backups.record(db_path(data_dir), load_settings(data_dir).store_id, target,
                                  size)
    except (FileExistsError, OSError, ConfigError) as exc:
        _fail(str(exc))
    _out({"backup": str(target), "bytes": size, "at": recorded["at"]})


@db.command("check")
@DATA_DIR
def db_check(data_dir: Path) -> None:
    """Run PRAGMA integrity_check; exits 1 unless the database is ok.

    Example: storenode db check --data-dir /var/lib/storenode
    """
    try:
        result = check_integrity(db_path(data_dir))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ok"
        _fail(f"integrity check failed: {exc}")
    _out({"integrity": result})
    if result != ["ok"]:
        sys.exit(1)


@db.command("export")
@click.argument("table")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="CSV with a header, or one JSON object per line")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="file to write (refuses to overwrite); default: standard output")
@DATA_DIR
def db_export(table: str, fmt: str, out: Path | None, data_dir: Path) -> None:
    """Export one table of the live database (read-only; PIN hashes are left out).

    Example: storenode db export orders --format csv --out /mnt/usb/orders.csv --data-dir /var/lib/storenode
    """
    path = db_path(data_dir)
    if not path.exists():
        _fail(f"no database in {data_dir}: run `storenode init` first")
    try:
        if out is None:
            export.export(path, table, fmt, sys.stdout)
            return
        with out.open("x", encoding="utf-8", newline="") as fh:
            rows = export.export(path, table, fmt, fh)
    except FileExistsError:
        _fail(f"{out} exists; refusing to overwrite")
    except export.UnknownTable as exc:
        if out is not None:
            out.unlink(missing_ok=True)
        _fail(str(exc))
    _out({"table": table, "rows": rows, "file": str(out)})


@db.command("migrate")
@DATA_DIR
def db_migrate(data_dir: Path) -> None:
    """Apply pending schema migrations (the daemon also does this at start-up).

    Example: storenode db migrate --data-dir /var/lib/storenode
    """
    path = db_path(data_dir)
    if not path.exists():
        _fail(f"no database in {data_dir}: run `storenode init` first")
    _out({"applied": migrate(path)})


@cli.group("sync")
def sync_group() -> None:
    """Sync with HQ over MQTT: point the store at a broker, see the backlog."""


@sync_group.command("configure")
@click.option("--broker", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT.")
@click.option("--username", required=True, help="The store's broker user (its store id).")
@click.option("--password", required=True, help="The password `storenode-cloud store add` gave.")
@click.option("--ca-file", default="", help="CA bundle for mqtts:// (default: the system's).")
@DATA_DIR
def sync_configure(broker: str, username: str, password: str, ca_file: str,
                   data_dir: Path) -> None:
    """Write the broker settings into edge.toml (restart the daemon to apply).

    Example: storenode sync configure --broker mqtts://hq.example.com:8883 --username canteen-01 --password s3cret --data-dir /var/lib/storenode
    """
    try:
        service.configure_sync(data_dir, broker, username, password, ca_file)
        settings = load_settings(data_dir)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    _out({"store": settings.store_id, "broker": broker, "username": username,
          "restart": "restart the daemon (systemctl restart storenode-edge) to connect"})


@sync_group.command("status")
@DATA_DIR
def sync_status(data_dir: Path) -> None:
    """Broker, connection, pending events, last acknowledged seq and lag.

    Example: storenode sync status --data-dir /var/lib/storenode
    """
    try:
        settings = load_settings(data_dir)
        result = service.sync_status(data_dir)
    except ConfigError as exc:
        _fail(str(exc))
    result["broker"] = settings.broker or None
    url = f"http://127.0.0.1:{settings.port}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (local daemon)
            result["connected"] = json.loads(resp.read())["sync"]["connected"]
    except (OSError, KeyError, ValueError):
        result["connected"] = None  # daemon not running: unknown
    _out(result)


@cli.group()
def printer() -> None:
    """Kitchen and receipt printers ([printers.<name>] in edge.toml)."""


@printer.command("test")
@click.argument("name")
@DATA_DIR
def printer_test(name: str, data_dir: Path) -> None:
    """Read a printer's status and print a test page on it (directly, not through the queue).

    Example: storenode printer test kitchen --data-dir /var/lib/storenode
    """
    try:
        _out(test_printer(data_dir, name))
    except ConfigError as exc:
        _fail(str(exc))
    except KeyError:
        _fail(f"no printer {name!r} in {data_dir}/edge.toml")
    except PrinterError as exc:
        _fail(f"printer {name}: {exc}")


@printer.command("reprint")
@click.argument("order_id")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["kitchen", "receipt", "label"]),
              help="Only these tickets (repeat the option; default: all).")
@click.option("--station", default=None, help="Only this station's kitchen ticket.")
@DATA_DIR
def printer_reprint(order_id: str, kinds: tuple[str, ...], station: str | None,
                    data_dir: Path) -> None:
    """Queue an order's tickets again; the running daemon prints them within seconds.

    Example: storenode printer reprint 01JD3Q7J5V9X0000000000000A --kind kitchen --data-dir var
    """
    try:
        jobs = reprint_order(data_dir, order_id, "cli", kinds or ("kitchen", "receipt", "label"),
                             station)
    except ConfigError as exc:
        _fail(str(exc))
    except DomainError as exc:
        _fail(f"{exc.code}: {exc.detail}")
    _out({"order_id": order_id, "jobs": jobs})


@cli.group()
def locker() -> None:
    """Pickup lockers ([lockers.<bank>] in edge.toml)."""


@locker.command("open")
@click.argument("bank")
@click.argument("n", type=int)
@click.option("--release", is_flag=True, help="Empty it: its order goes back to staff.")
@DATA_DIR
def locker_open(bank: str, n: int, release: bool, data_dir: Path) -> None:
    """Open compartment N of a locker bank (through the daemon when it runs).

    Example: storenode locker open main 3 --data-dir /var/lib/storenode
    """
    try:
        _out(open_compartment(data_dir, bank, n, release))
    except (ConfigError, TechnicianError) as exc:
        _fail(str(exc))


@cli.group()
def probe() -> None:
    """BLE foot-traffic probes ([probes.<zone>] in edge.toml)."""


@probe.command("scan")
@click.option("--seconds", default=10.0, show_default=True, type=click.FloatRange(0.1, 3600))
@click.option("--adapter", default=None, help="Scan on this adapter (e.g. hci0), not the zones.")
@click.option("--record", type=click.File("w"), default=None,
              help="Write a capture (JSON lines, addresses hashed) for a replay probe.")
@DATA_DIR
def probe_scan(seconds: float, adapter: str | None, record: Any, data_dir: Path) -> None:
    """Listen for BLE adverts and count them per zone (devices, devices near enough).

    Example: storenode probe scan --seconds 30 --record pickup.jsonl --data-dir /var/lib/storenode
    """
    try:
        _out(scan(data_dir, seconds, adapter, record))
    except (ConfigError, TechnicianError) as exc:
        _fail(str(exc))


@cli.group("backup")
def backup_group() -> None:
    """Encrypted local backups to a second medium (the [backup] section)."""


@backup_group.command("keygen")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The identity file to write (secret: the technician keeps it, off the box).")
def backup_keygen(out: Path) -> None:
    """Make the technician's backup key: prints the public key for backup.recipient.

    Example: storenode backup keygen --out /media/technician/canteen-01.key
    """
    try:
        _out(local_backups.keygen(out))
    except OSError as exc:
        _fail(f"{out}: {exc.strerror or exc}")


@backup_group.command("run")
@DATA_DIR
def backup_run(data_dir: Path) -> None:
    """Make an encrypted copy into backup.dir now (the daemon does it every backup.every_min).

    Example: storenode backup run --data-dir /var/lib/storenode
    """
    try:
        settings = load_settings(data_dir)
        _out(local_backups.make_backup(settings.db_path, settings.store_id, settings.backup))
    except (ConfigError, local_backups.BackupError) as exc:
        _fail(str(exc))


@backup_group.command("decrypt")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--identity", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The technician's identity file (storenode backup keygen).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the database (never overwritten).")
def backup_decrypt(source: Path, identity: Path, out: Path) -> None:
    """Get the database back out of an encrypted copy.

    Example: storenode backup decrypt COPY.db.age --identity t.key --out store.db
    """
    try:
        _out(local_backups.decrypt(source, identity, out))
    except local_backups.BackupError as exc:
        _fail(str(exc))


@cli.group()
def tables() -> None:
    """Tables and their QR codes for ordering at the table."""


@tables.command("add")
@click.argument("table_id")
@click.option("--name", required=True, help="What guests and staff read, e.g. A3 or 包间1.")
@click.option("--seats", required=True, type=int)
@click.option("--area", default="", help="e.g. hall, terrace, private rooms.")
@DATA_DIR
def tables_add(table_id: str, name: str, seats: int, area: str, data_dir: Path) -> None:
    """Add a table; prints it with its QR token and page path.

    Example: storenode tables add A3 --name A3 --seats 4 --area hall --data-dir /var/lib/storenode
    """
    try:
        _out(floor.add_table(load_settings(data_dir), table_id, name, seats, area))
    except (DomainError, ConfigError, ValueError) as exc:
        _fail(str(exc) if not isinstance(exc, DomainError) else f"{exc.code}: {exc.detail}")


@tables.command("list")
@DATA_DIR
def tables_list(data_dir: Path) -> None:
    """Every table with its token and page path, as JSON.

    Example: storenode tables list --data-dir /var/lib/storenode
    """
    try:
        _out(floor.list_tables(load_settings(data_dir)))
    except ConfigError as exc:
        _fail(str(exc))


@tables.command("rotate")
@click.argument("table_id")
@DATA_DIR
def tables_rotate(table_id: str, data_dir: Path) -> None:
    """Give a table a new token (its printed code was photographed and abused); the old
    code answers 404 at once. Print the new code with `tables qr`.

    Example: storenode tables rotate A3 --data-dir /var/lib/storenode
    """
    try:
        _out(floor.rotate(load_settings(data_dir), table_id))
    except (DomainError, ConfigError) as exc:
        _fail(str(exc) if not isinstance(exc, DomainError) else f"{exc.code}: {exc.detail}")


@tables.command("qr")
@click.argument("table_ids", nargs=-1)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write.")
@click.option("--base-url", default=None,
              help="What the codes point at, e.g. http://192.168.1.10:8080 (default: "
                   "tables.base_url, else this box's LAN address and port).")
@DATA_DIR
def tables_qr(table_ids: tuple[str, ...], out: Path, base_url: str | None,
              data_dir: Path) -> None:
    """Print QR codes to cut out (all tables, or those named), six an A4 page.

    Example: storenode tables qr A1 A2 --out tables.pdf --data-dir /var/lib/storenode
    """
    try:
        _out(floor.qr_sheet(load_settings(data_dir), list(table_ids), out, base_url))
    except (DomainError, ConfigError, ValueError, OSError) as exc:
        _fail(str(exc) if not isinstance(exc, DomainError) else f"{exc.code}: {exc.detail}")


@cli.group("metrics-key")
def metrics_key() -> None:
    """Scrape keys: what Prometheus sends to GET /metrics (nothing else opens with one)."""


def _keys(data_dir: Path, job: Callable[..., Any], *args: str) -> None:
    """``job(settings, *args)`` of ``edge.scrapekeys.commands``, printed; a failure as one line."""
    try:
        _out(job(load_settings(data_dir), *args))
    except (DomainError, ConfigError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc) if not isinstance(exc, DomainError) else f"{exc.code}: {exc.detail}")


@metrics_key.command("add")
@click.argument("name")
@DATA_DIR
def metrics_key_add(name: str, data_dir: Path) -> None:
    """Make a scrape key; prints {"id","name","key"} once: put the key in Prometheus'
    credentials file (the box keeps only its digest).

    Example: storenode metrics-key add prometheus --data-dir /var/lib/storenode
    """
    _keys(data_dir, scrape_keys.add_key, name)


@metrics_key.command("list")
@DATA_DIR
def metrics_key_list(data_dir: Path) -> None:
    """Every scrape key, revoked ones too (never a secret): id, prefix, name, who made it,
    last use (to the minute), who revoked it.

    Example: storenode metrics-key list --data-dir /var/lib/storenode
    """
    _keys(data_dir, scrape_keys.list_keys)


@metrics_key.command("revoke")
@click.argument("key_id")
@DATA_DIR
def metrics_key_revoke(key_id: str, data_dir: Path) -> None:
    """Revoke a scrape key by its id: the running daemon refuses it (401) at the next scrape.

    Example: storenode metrics-key revoke 3f9a1c0b2d4e --data-dir /var/lib/storenode
    """
    _keys(data_dir, scrape_keys.revoke_key, key_id)


@cli.command()
@DATA_DIR
def doctor(data_dir: Path) -> None:
    """Check printers, locker boards, BLE adapters, broker, disk and clock; exit 1 on a fail.

    Example: storenode doctor --data-dir /var/lib/storenode
    """
    try:
        rows = run_checks(load_settings(data_dir))
    except ConfigError as exc:
        _fail(str(exc))
    failed = [r["check"] for r in rows if r["status"] == "fail"]
    _out({"ok": not failed, "failed": failed, "checks": rows})
    if failed:
        sys.exit(1)


def main() -> None:
    cli()
