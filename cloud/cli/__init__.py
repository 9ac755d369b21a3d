"""``storenode-cloud``: the HQ operators' command line, a thin shell over the Python API."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from cloud.api.schemas import ROLES
from cloud.broker import provision
from cloud.cli.analytics import analytics
from cloud.cli.kit import BROKER, DATA_DIR, DATABASE, EXPECTED, fail_with, out
from cloud.cli.keys import key
from cloud.cli.reports import report, settlement
from cloud.cli.weather import weather
from cloud.config import ensure_data_dir, load_settings
from cloud.database import CloudDb
from cloud.db.backup import backup_sqlite


def _logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@click.group()
@click.version_option(package_name="storenode")
def cli() -> None:
    """storenode cloud (HQ): ingest from stores, HQ API, provisioning."""


@cli.command()
@DATA_DIR
@DATABASE
@BROKER
@click.option("--port", default=8090, show_default=True, type=int, help="HQ API port.")
def init(data_dir: Path, database: str | None, broker: str | None, port: int) -> None:
    """Create cloud.toml, the secrets, the broker files and the database; never overwrites.

    Example: storenode-cloud init --data-dir /var/lib/storenode-cloud --broker mqtt://127.0.0.1:1883
    """
    try:
        out(provision.init_cloud(data_dir, database or "", broker or "", port))
    except EXPECTED as exc:
        fail_with(exc)


@cli.command()
@DATA_DIR
@click.option("--host", default=None, help="Listen address (default from cloud.toml).")
@click.option("--port", default=None, type=int, help="Listen port (default from cloud.toml).")
@DATABASE
@BROKER
def run(data_dir: Path, host: str | None, port: int | None, database: str | None,
        broker: str | None) -> None:
    """Serve the HQ API and ingest from the broker until SIGTERM, then shut down cleanly.

    Example: storenode-cloud run --data-dir /var/lib/storenode-cloud --port 8090
    """
    from cloud.server import serve

    _logging()
    try:
        ensure_data_dir(data_dir)
        settings = load_settings(data_dir, overrides={
            "http.host": host, "http.port": port, "db.url": database, "broker.url": broker})
        asyncio.run(serve(settings))
    except EXPECTED as exc:
        fail_with(exc)


@cli.command()
@DATA_DIR
@DATABASE
@BROKER
def ingest(data_dir: Path, database: str | None, broker: str | None) -> None:
    """Run one more ingest worker (shared subscription, own db connection, no HTTP).

    Example: storenode-cloud ingest --data-dir /var/lib/storenode-cloud
    """
    from cloud.server import run_ingest_worker

    _logging()
    try:
        ensure_data_dir(data_dir)
        settings = load_settings(data_dir, overrides={"db.url": database, "broker.url": broker})
        asyncio.run(run_ingest_worker(settings))
    except EXPECTED as exc:
        fail_with(exc)


@cli.group()
def store() -> None:
    """Stores: provisioning."""


@store.command("add")
@click.argument("store_id")
@click.option("--tenant", default="default", show_default=True, help="Tenant (brand).")
@DATA_DIR
def store_add(store_id: str, tenant: str, data_dir: Path) -> None:
    """Provision a store; prints its broker credentials and updates the broker's files.

    Example: storenode-cloud store add canteen-01 --tenant acme --data-dir /var/lib/storenode-cloud
    """
    try:
        result = provision.add_store(data_dir, store_id, tenant)
    except EXPECTED as exc:
        fail_with(exc)
    out(result)


@store.command("replace")
@click.argument("store_id")
@DATA_DIR
def store_replace(store_id: str, data_dir: Path) -> None:
    """Authorise a new box for a store whose box died: the next epoch and broker credentials
    of its own (give them to `storenode restore`); the old box, if it comes back, drains its
    sales and then refuses new orders.

    Example: storenode-cloud store replace canteen-01 --data-dir /var/lib/storenode-cloud
    """
    try:
        result = provision.replace_store(data_dir, store_id)
    except EXPECTED as exc:
        fail_with(exc)
    out(result)


@store.command("revoke-box")
@click.argument("store_id")
@click.option("--epoch", type=click.IntRange(min=1), required=True,
              help="The superseded box's epoch (storenode-cloud stores shows the current one).")
@DATA_DIR
def store_revoke_box(store_id: str, epoch: int, data_dir: Path) -> None:
    """Delete a superseded box's broker user: it can no longer connect (let it drain first).

    Example: storenode-cloud store revoke-box canteen-01 --epoch 1 --data-dir /var/lib/storenode-cloud
    """
    try:
        result = provision.revoke_box(data_dir, store_id, epoch)
    except EXPECTED as exc:
        fail_with(exc)
    out(result)


@cli.group()
def db() -> None:
    """HQ's database: backup."""


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@DATA_DIR
def db_backup(target: Path, data_dir: Path) -> None:
    """Copy HQ's SQLite database online (safe while serving); PostgreSQL: use its tools.

    Example: storenode-cloud db backup /backups/hq-2026-12-04.db --data-dir /var/lib/storenode-cloud
    """
    try:
        out(backup_sqlite(load_settings(data_dir).database, target))
    except EXPECTED as exc:
        fail_with(exc)


@cli.command()
@DATA_DIR
def stores(data_dir: Path) -> None:
    """List the stores with presence and lag.

    Example: storenode-cloud stores --data-dir /var/lib/storenode-cloud
    """
    try:
        out(provision.list_stores(data_dir))
    except EXPECTED as exc:
        fail_with(exc)


@cli.group()
def members() -> None:
    """Member jobs (docs/members.md)."""


@members.command("expire")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True,
              help="Points earned longer ago than this and not used expire.")
@DATA_DIR
def members_expire(months: int, data_dir: Path) -> None:
    """Expire unused points (FIFO) as `expire` entries sent to every store; a second run
    expires nothing more. For a timer; online stores get the entries at their next birth.

    Example: storenode-cloud members expire --months 12 --data-dir /var/lib/storenode-cloud
    """
    try:
        db = CloudDb.open(load_settings(data_dir).database)
        try:
            entries, cursors = db.expire_points(months)
        finally:
            db.close()
    except EXPECTED as exc:
        fail_with(exc)
    out({"expired": len(entries), "points": -sum(e["amount"] for e in entries),
          "stores": cursors})


@cli.group()
def user() -> None:
    """HQ API users."""


@user.command("add")
@click.argument("user_id")
@click.option("--password", required=True, help="At least 8 characters (stored as scrypt).")
@click.option("--role", required=True, type=click.Choice(ROLES))
@DATA_DIR
def user_add(user_id: str, password: str, role: str, data_dir: Path) -> None:
    """Add an HQ API user: hq_admin (everything) or analyst (reads only).

    Example: storenode-cloud user add li --password 's3cret-pass' --role analyst --data-dir /var/lib/storenode-cloud
    """
    try:
        provision.add_hq_user(data_dir, user_id, password, role)
    except EXPECTED as exc:
        fail_with(exc)
    out({"user": user_id, "role": role})



cli.add_command(analytics)


cli.add_command(settlement)
cli.add_command(report)


cli.add_command(weather)
cli.add_command(key)


def main() -> None:
    cli()
