"""HQ's /metrics for the dashboard and the alert rules (config/grafana, config/prometheus):
stores offline, each store's presence and lag, open conflicts; on SQLite and PostgreSQL."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from sync import messages
from tests.cloud.sync.sim import EdgeSim
from tests.conftest import Api

from .test_pagination import add_conflicts


async def scrape(hq: TestClient, admin: Api) -> str:
    resp = await hq.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status == 200
    return await resp.text()


async def test_metrics_count_offline_stores_per_store_lag_and_open_conflicts(
        hq: TestClient, admin: Api) -> None:
    text = await scrape(hq, admin)
    for line in ("storenode_cloud_stores_offline 2.0", "storenode_cloud_conflicts_open 0.0",
                 'storenode_cloud_store_online{store="s1"} 0.0',
                 'storenode_cloud_store_online{store="s2"} 0.0'):
        assert line in text, line
    assert "storenode_cloud_store_lag_seconds{" not in text  # no event applied yet

    runner = hq.app[keys.DB]
    birth = messages.encode(messages.birth(1, 0, "test"))
    assert (await runner.call(CloudDb.record_state, "acme", "s1", birth)).accepted
    sim = EdgeSim("s1")
    sim.order()
    await runner.call(CloudDb.apply_batch, "acme", "s1", sim.payload(1, 1))
    await runner.call(add_conflicts, 3)
    (conflict, *_) = await runner.call(CloudDb.conflicts)
    await runner.call(CloudDb.resolve_conflict, conflict["id"])
    text = await scrape(hq, admin)
    for line in ("storenode_cloud_stores_offline 1.0", "storenode_cloud_stores_online 1.0",
                 'storenode_cloud_store_online{store="s1"} 1.0',
                 'storenode_cloud_store_online{store="s2"} 0.0',
                 "storenode_cloud_conflicts_open 2.0"):
        assert line in text, line
    (lag,) = [ln for ln in text.splitlines()
              if ln.startswith("storenode_cloud_store_lag_seconds{")]
    assert lag.startswith('storenode_cloud_store_lag_seconds{store="s1"} ')
    assert float(lag.split()[-1]) >= 0
