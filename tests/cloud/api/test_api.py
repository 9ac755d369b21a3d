"""The HQ API (ARCHITECTURE §4b) on SQLite and PostgreSQL: reads, writes into the change feed,
roles, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from cloud.database import CloudDb
from cloud.feed.changes import ADJUST_PARTS
from cloud.routes import ROUTES
from common.vocabulary import MAX_STOCK_MOVE
from sync.changes import check_change
from tests.cloud.sync.sim import EdgeSim
from tests.conftest import Api

ITEM = {"name": "牛肉面", "name_en": "Beef noodles", "category": "noodles", "station": "kitchen",
        "price_cents": 2800, "cost_cents": 900, "channel_prices": {"meituan": 3200}}


async def db(client: TestClient, method: str, *args: Any) -> Any:
    return await client.app[keys.DB].call(getattr(CloudDb, method), *args)


async def test_stores_list_every_store_with_presence_and_lag(admin: Api) -> None:
    status, body = await admin.get("/api/v1/stores")
    assert status == 200
    assert [s["store"] for s in body] == ["s1", "s2"]
    for store in body:
        assert {"store", "online", "last_seen", "applied_seq", "lag_s"} <= set(store)
        assert store["online"] is False and store["applied_seq"] == 0


async def test_orders_and_inventory_come_from_the_stores_events(hq: TestClient,
                                                                analyst: Api) -> None:
    sim = EdgeSim("s1")
    sim.fill(12)
    sim.move("T010", 7)
    ack = await db(hq, "apply_batch", "acme", "s1", sim.payload(1, len(sim.events)))
    assert ack.kind == "applied"
    status, orders = await analyst.get("/api/v1/stores/s1/orders")
    assert status == 200 and len(orders) == sim.orders
    assert orders[0]["lines"] and orders[0]["created_at"] >= orders[-1]["created_at"]
    status, some = await analyst.get("/api/v1/stores/s1/orders?limit=2")
    assert status == 200 and len(some) == 2
    status, later = await analyst.get("/api/v1/stores/s1/orders?since=2030-01-01T00:00:00Z")
    assert status == 200 and later == []
    status, inventory = await analyst.get("/api/v1/stores/s1/inventory")
    assert status == 200
    assert {row["sku"]: row["on_hand"] for row in inventory} == sim.expected_stock
    assert (await analyst.get("/api/v1/stores/s2/orders")) == (200, [])


async def test_catalog_item_goes_into_the_feed_of_all_or_chosen_stores(hq: TestClient,
                                                                       admin: Api) -> None:
    status, body = await admin.call("PUT", "/api/v1/catalog/items/N-01", ITEM)
    assert status == 200, body
    assert body["stores"] == {"s1": 2, "s2": 2} and body["item"] == {"sku": "N-01", **ITEM}
    assert body["messages_sent"] == 0  # no broker: stores get it by replay at their birth
    status, body = await admin.call("PUT", "/api/v1/catalog/items/N-02?stores=s2",
                                    {"name": "Tea", "category": "drinks", "station": "bar",
                                     "price_cents": 500})
    assert status == 200 and body["stores"] == {"s2": 3}
    assert body["item"]["channel_prices"] == {} and body["item"]["name_en"] is None
    feed = await db(hq, "changes_since", "s2", 1)  # 1: the tenant key
    assert [(c["type"], c["data"]["sku"]) for c in feed.changes] == [
        ("catalog.item", "N-01"), ("catalog.item", "N-02")]
    status, body = await admin.call("PUT", "/api/v1/catalog/items/N-01/quotas?stores=s1",
                                    {"meituan": 20, "eleme": None})
    assert status == 200 and body["stores"] == {"s1": 3}
    last = (await db(hq, "changes_since", "s1", 2)).changes
    assert last == [{"cursor": 3, "type": "inventory.quotas",
                     "data": {"sku": "N-01", "quotas": {"meituan": 20, "eleme": None}}}]


async def test_stocktake_sends_the_difference_to_the_store(hq: TestClient, admin: Api) -> None:
    sim = EdgeSim("s1")
    sim.move("T010", 30)
    await db(hq, "apply_batch", "acme", "s1", sim.payload(1, 1))
    status, body = await admin.post("/api/v1/stores/s1/inventory/T010/stocktake", {"counted": 25})
    assert status == 201, body
    assert body["cursor"] == 2 and body["counted"] == 25
    (change,) = (await db(hq, "changes_since", "s1", 1)).changes
    assert change["type"] == "stock.adjust" and change["data"]["delta"] == -5


async def test_a_stocktake_further_off_than_one_adjustment_goes_in_parts(
        hq: TestClient, admin: Api) -> None:
    """The edge takes a ``stock.adjust`` of at most MAX_STOCK_MOVE units (it used to refuse
    the one change of a larger stocktake while HQ had answered 201): a larger difference goes
    as several, each one the edge takes, with refs of their own, in all the difference; one
    too far off for any count is a 409 and sends nothing; a count HQ expected sends a 0."""
    sim = EdgeSim("s1")
    sim.move("T010", 2 * MAX_STOCK_MOVE + 500)
    sim.move("C001", ADJUST_PARTS * MAX_STOCK_MOVE + 1)
    await db(hq, "apply_batch", "acme", "s1", sim.payload(1, 2))
    status, body = await admin.post("/api/v1/stores/s1/inventory/T010/stocktake", {"counted": 7})
    assert status == 201 and body["cursor"] == 4, body
    changes = (await db(hq, "changes_since", "s1", 1)).changes
    assert [(c["cursor"], c["data"]["delta"]) for c in changes] == [
        (2, -MAX_STOCK_MOVE), (3, -MAX_STOCK_MOVE), (4, -493)]
    assert all(check_change(c) is None and c["type"] == "stock.adjust" for c in changes)
    assert len({c["data"]["ref"] for c in changes}) == 3
    status, body = await admin.post("/api/v1/stores/s1/inventory/C001/stocktake", {"counted": 0})
    assert status == 409 and body["error"] == "stocktake_out_of_range", body
    assert body["detail"] == {"on_hand": ADJUST_PARTS * MAX_STOCK_MOVE + 1, "counted": 0}
    assert len((await db(hq, "changes_since", "s1", 1)).changes) == 3
    status, body = await admin.post("/api/v1/stores/s1/inventory/C001/stocktake",
                                    {"counted": MAX_STOCK_MOVE})  # 100 parts: the most
    assert status == 201 and body["cursor"] == 104, body
    status, body = await admin.post("/api/v1/stores/s1/inventory/S001/stocktake", {"counted": 0})
    assert status == 201 and body["cursor"] == 105, body
    assert (await db(hq, "changes_since", "s1", 104)).changes[0]["data"]["delta"] == 0


async def test_writes_to_unknown_stores_are_404_and_write_nothing(hq: TestClient,
                                                                  admin: Api) -> None:
    for method, path, body in (
        ("PUT", "/api/v1/catalog/items/N-01?stores=s1,nope", ITEM),
        ("PUT", "/api/v1/catalog/items/N-01/quotas?stores=ghost", {"pos": 1}),
        ("POST", "/api/v1/stores/ghost/inventory/T010/stocktake", {"counted": 1}),
        ("GET", "/api/v1/stores/ghost/orders", None),
        ("GET", "/api/v1/stores/ghost/inventory", None),
        ("GET", "/api/v1/stores/NOT%20AN%20ID/inventory", None),
    ):
        status, answer = await admin.call(method, path, body)
        assert status == 404, (path, answer)
        assert answer["error"].startswith("unknown_"), answer
    assert (await db(hq, "changes_since", "s1", 1)).changes == []  # 1: the tenant key
    assert await db(hq, "hq_catalog") == []


async def test_conflicts_list_and_filter(admin: Api) -> None:
    assert await admin.get("/api/v1/conflicts") == (200, [])
    assert await admin.get("/api/v1/conflicts?resolved=false") == (200, [])
    status, body = await admin.get("/api/v1/conflicts?resolved=maybe")
    assert status == 400 and body["error"] == "bad_query"


async def test_stock_alerts_and_resolving_a_conflict(hq: TestClient, admin: Api,
                                                     analyst: Api) -> None:
    sim = EdgeSim("s1")
    sim.emit("stock.low", {"sku": "N001", "on_hand": 1, "safety_stock": 5})
    sim.emit("stock.moved", {"sku": "C001", "delta": "ten"})  # cannot be projected: a conflict
    assert (await db(hq, "apply_batch", "acme", "s1", sim.payload(1, 2))).kind == "applied"
    status, alerts = await analyst.get("/api/v1/stores/s1/stock-alerts")
    assert status == 200 and [(a["sku"], a["on_hand"], a["safety_stock"]) for a in alerts] == [
        ("N001", 1, 5)]
    assert await analyst.get("/api/v1/stores/s2/stock-alerts") == (200, [])
    assert (await analyst.get("/api/v1/stores/nowhere/stock-alerts"))[0] == 404
    (conflict,) = (await admin.get("/api/v1/conflicts?resolved=false"))[1]
    path = f"/api/v1/conflicts/{conflict['id']}/resolve"
    assert (await analyst.call("POST", path))[0] == 403  # an analyst only reads
    assert await admin.call("POST", path) == (200, {"id": conflict["id"], "resolved": True})
    assert await admin.get("/api/v1/conflicts?resolved=false") == (200, [])
    assert (await admin.call("POST", "/api/v1/conflicts/999999/resolve"))[0] == 404
    assert (await admin.call("POST", "/api/v1/conflicts/x1/resolve"))[0] == 404


async def test_openapi_documents_every_route(hq: TestClient) -> None:
    resp = await hq.get("/api/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["summary"] and str(route.ok) in op["responses"], route.path
        assert (op.get("security") == []) == route.public
        if route.body is not None:
            assert op["requestBody"]["content"][route.consumes]["schema"] == route.body
    registered = {(r.method, r.resource.canonical) for r in hq.app.router.routes()
                  if r.resource is not None and r.method != "HEAD"
                  and r.resource.canonical.startswith(("/api/", "/metrics"))}  # not the pages
    documented = {(r.method, r.path) for r in ROUTES} | {("GET", "/api/openapi.json")}
    assert registered == documented


async def test_health_is_public_and_reports_db_and_broker(hq: TestClient) -> None:
    resp = await hq.get("/api/v1/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["db"]["ok"] is True
    assert body["broker"] == {"configured": False, "connected": False}


async def test_metrics_expose_http_latency_stores_and_ingest_counters(admin: Api) -> None:
    await admin.get("/api/v1/stores")
    resp = await admin.client.get("/metrics", headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status == 200
    text = await resp.text()
    for name in ("storenode_cloud_http_request_duration_seconds_bucket",
                 "storenode_cloud_stores_online 0.0", "storenode_cloud_stores 2.0",
                 "storenode_cloud_broker_connected 0.0", 'storenode_sync_invalid_total{kind="up"}'):
        assert name in text, name
    assert (await admin.client.get("/metrics")).status == 401


async def test_a_lost_database_connection_is_503_then_recovers(hq: TestClient, admin: Api,
                                                              db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: a SQLite file has no server connection to lose")
    import psycopg

    backend = hq.app[keys.DB].db._db  # the API's own connection
    with psycopg.connect(db_url, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (backend.conn.info.backend_pid,))
    status, body = await admin.get("/api/v1/stores")
    assert status == 503 and body["error"] == "db_unavailable", body
    health = await (await hq.get("/api/v1/health")).json()
    assert health["db"]["ok"] is True  # reconnected on the next call
    assert (await admin.get("/api/v1/stores"))[0] == 200
