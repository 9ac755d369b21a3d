"""``storenode-cloud key …``: API keys for machines (Prometheus, BI tools, the brand's
mini-program backend, platform integrations), on the database in ``cloud.toml``; made and
revoked here or by a logged-in hq_admin (``/api/v1/keys``), never by another key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloud.apikeys.scopes import SCOPES
from cloud.cli.analytics import _with_db
from cloud.cli.kit import DATA_DIR
from cloud.database import CloudDb
from common.http.apikeys import ID_PATTERN, operator


def _key() -> None:
    """API keys of HQ for machines, with scopes (docs/hq-api.md)."""


key: click.Group = click.group("key")(_key)


@key.command("add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(SCOPES),
              help="What the key opens (repeat for several): metrics, read, guest, "
                   "platform, admin.")
@DATA_DIR
def key_add(name: str, scopes: tuple[str, ...], data_dir: Path) -> None:
    """Make an API key; prints {"id","name","scopes","key"} once: keep the key as a secret
    (HQ keeps only its digest), send it as Authorization: Bearer <key>.

    Example: storenode-cloud key add prometheus --scope metrics --data-dir /var/lib/storenode-cloud
    """
    def add(db: CloudDb, _: Any) -> dict[str, Any]:
        made = db.add_api_key(name, list(scopes), operator())
        return {k: made[k] for k in ("id", "name", "scopes", "key")}
    _with_db(data_dir, add)


@key.command("list")
@DATA_DIR
def key_list(data_dir: Path) -> None:
    """Every API key, revoked ones too (never a secret): id, prefix, name, scopes, who made
    it, last use, who revoked it.

    Example: storenode-cloud key list --data-dir /var/lib/storenode-cloud
    """
    _with_db(data_dir, lambda db, _: db.api_keys())


@key.command("revoke")
@click.argument("key_id")
@DATA_DIR
def key_revoke(key_id: str, data_dir: Path) -> None:
    """Revoke an API key by its id: the next request with it is 401.

    Example: storenode-cloud key revoke 3f9a1c0b2d4e --data-dir /var/lib/storenode-cloud
    """
    def revoke(db: CloudDb, _: Any) -> dict[str, Any]:
        found = db.revoke_api_key(key_id, operator()) if ID_PATTERN.match(key_id) else None
        if found is None:
            raise ValueError(f"no API key {key_id!r} (storenode-cloud key list)")
        return found
    _with_db(data_dir, revoke)
