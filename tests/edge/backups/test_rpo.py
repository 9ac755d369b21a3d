"""RPO made visible: the oldest unacknowledged event's age and the last backup's, in health,
/metrics and ``storenode doctor``; a backup is recorded and told to HQ (backup.done)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from devtools.api import Api
from edge.cli import cli
from edge.config import load_settings
from edge.db.database import db_path
from edge.devices.doctor import rpo_rows


async def _health(client: TestClient) -> dict:
    resp = await client.get("/api/v1/health")
    assert resp.status == 200
    return dict(await resp.json())


def _gauge(text: str, name: str) -> float:
    line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
    return float(line.split()[1])


async def test_health_and_metrics_show_what_a_dead_box_would_lose(
        client: TestClient, manager: Api, store_dir: Path, tmp_path: Path) -> None:
    health = await _health(client)
    assert health["sync"]["pending"] > 0  # no broker: everything since init is unsent
    assert 0 <= health["sync"]["oldest_pending_s"] < 600 and health["backup"] is None
    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {manager.token}"})
    text = await metrics.text()
    assert _gauge(text, "storenode_backup_age_seconds") == -1
    assert _gauge(text, "storenode_sync_oldest_pending_seconds") >= 0

    # the oldest unsent event was committed ten minutes ago: that is what a dead box loses
    with sqlite3.connect(db_path(store_dir)) as conn:
        conn.execute("UPDATE outbox SET at = '2020-01-01T00:00:00.000Z' WHERE seq = "
                     "(SELECT MIN(seq) FROM outbox)")
    health = await _health(client)
    assert health["sync"]["oldest_pending_s"] > 10 * 365 * 86400 / 2

    target = tmp_path / "usb" / "store.db"
    target.parent.mkdir()
    result = CliRunner().invoke(cli, ["db", "backup", str(target), "--data-dir", str(store_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bytes"] == target.stat().st_size > 0
    health = await _health(client)
    assert health["backup"]["age_s"] < 60
    text = await (await client.get("/metrics", headers={
        "Authorization": f"Bearer {manager.token}"})).text()
    assert 0 <= _gauge(text, "storenode_backup_age_seconds") < 60
    with sqlite3.connect(db_path(store_dir)) as conn:  # HQ hears of it with the next batch
        done = conn.execute("SELECT data FROM outbox WHERE type = 'backup.done'").fetchall()
    assert len(done) == 1 and json.loads(done[0][0])["bytes"] == target.stat().st_size


def test_doctor_warns_when_unsent_events_or_the_backup_are_old(store_dir: Path,
                                                                tmp_path: Path) -> None:
    settings = load_settings(store_dir)
    rows = {r["check"]: r for r in rpo_rows(settings, None)}
    assert rows["unsynced events"]["status"] == "ok"
    assert rows["local backup"]["status"] == "warn" and "none yet" in rows["local backup"]["detail"]
    with sqlite3.connect(db_path(store_dir)) as conn:
        conn.execute("UPDATE outbox SET at = '2020-01-01T00:00:00.000Z'")
    CliRunner().invoke(cli, ["db", "backup", str(tmp_path / "b.db"), "--data-dir", str(store_dir)])
    rows = {r["check"]: r for r in rpo_rows(settings, None)}
    assert rows["unsynced events"]["status"] == "warn"
    assert rows["local backup"]["status"] == "ok"
    record = store_dir / "last-backup.json"
    record.write_text(json.dumps({"at": "2020-01-01T00:00:00.000Z", "target": "x", "bytes": 1}))
    rows = {r["check"]: r for r in rpo_rows(settings, None)}
    assert rows["local backup"]["status"] == "warn"
