"""Scrape keys (``storenode metrics-key``, docs/operations.md): Prometheus scrapes ``/metrics``
with one, it opens nothing else, a revoked one is refused at the next scrape, staff tokens
keep working, and the box never stores the key in clear."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from edge.cli import cli
from tests.conftest import Api, login_as

ORDER = {"channel": "pos", "lines": [{"sku": "C004", "qty": 1}]}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def add_key(store_dir: Path, name: str = "prometheus") -> dict[str, Any]:
    code, out = run("metrics-key", "add", name, "--data-dir", str(store_dir))
    assert code == 0, out
    made: dict[str, Any] = json.loads(out)
    return made


def listed(store_dir: Path) -> dict[str, dict[str, Any]]:
    code, out = run("metrics-key", "list", "--data-dir", str(store_dir))
    assert code == 0, out
    return {k["id"]: k for k in json.loads(out)}


async def scrape(client: TestClient, token: str) -> tuple[int, str]:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.text()


async def test_prometheus_scrapes_with_a_key_until_it_is_revoked(
        client: TestClient, store_dir: Path, manager: Api, cashier: Api) -> None:
    made = add_key(store_dir)
    assert set(made) == {"id", "name", "key"} and made["key"].startswith(f"snm_{made['id']}_")
    row = listed(store_dir)[made["id"]]
    assert row["prefix"] == f"snm_{made['id']}" and row["created_by"].startswith("cli")
    assert row["last_used_at"] is None and "key" not in row and "secret_hash" not in row

    status, text = await scrape(client, made["key"])
    assert status == 200 and "storenode_outbox_pending" in text
    assert listed(store_dir)[made["id"]]["last_used_at"] is not None
    assert (await scrape(client, manager.token))[0] == 200  # staff tokens as before
    assert (await scrape(client, cashier.token))[0] == 403

    code, out = run("metrics-key", "revoke", made["id"], "--data-dir", str(store_dir))
    assert code == 0 and json.loads(out)["revoked_at"]
    status, text = await scrape(client, made["key"])
    assert status == 401 and json.loads(text)["error"] == "unauthorized"
    code, again = run("metrics-key", "revoke", made["id"], "--data-dir", str(store_dir))
    assert code == 0 and json.loads(again) == json.loads(out)  # the first revocation stays
    code, out = run("metrics-key", "revoke", "0123456789ab", "--data-dir", str(store_dir))
    assert code == 1 and "unknown_key" in out


async def test_a_scrape_key_opens_nothing_but_metrics(client: TestClient, store_dir: Path,
                                                      cashier: Api) -> None:
    key = add_key(store_dir)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    for method, path, body in (
        ("GET", "/api/v1/orders", None), ("GET", "/api/v1/catalog/items", None),
        ("GET", "/api/v1/inventory", None), ("GET", "/api/v1/tables", None),
        ("POST", "/api/v1/orders", ORDER), ("GET", "/api/v1/devices", None),
        ("GET", "/api/v1/no-such-route", None),
    ):
        resp = await client.request(method, path, json=body,
                                    headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
        answer = await resp.json()
        assert resp.status == 403 and answer["error"] == "forbidden", (path, answer)
        assert "GET /metrics" in answer["detail"]["needs"]
    resp = await client.get(f"/api/v1/events?token={key}")  # never in a URL, not even there
    assert resp.status == 401
    assert await cashier.get("/api/v1/orders") == (200, [])  # nothing was placed
    resp = await client.get("/api/v1/health", headers=headers)  # public: the key is not read
    assert resp.status == 200


async def test_unknown_and_malformed_keys_are_refused(client: TestClient,
                                                      store_dir: Path) -> None:
    made = add_key(store_dir)
    forged = made["key"][:-4] + ("AAAA" if not made["key"].endswith("AAAA") else "BBBB")
    for token in (forged, f"snm_{'0' * 12}_{'x' * 43}", "snm_", f"snm_{made['id']}",
                  "snk_" + made["key"][4:]):  # an HQ-looking key is no key here
        status, text = await scrape(client, token)
        assert status == 401 and json.loads(text)["error"] == "unauthorized", token


async def test_the_key_is_never_stored_in_clear(client: TestClient, store_dir: Path,
                                                manager: Api) -> None:
    made = [add_key(store_dir, name) for name in ("prometheus", "grafana agent")]
    for key in made:
        assert (await scrape(client, key["key"]))[0] == 200
    await manager.get("/api/v1/orders")
    raw = b"".join(p.read_bytes() for p in store_dir.iterdir()
                   if p.is_file() and ".db" in p.name)
    assert b"grafana agent" in raw and made[0]["id"].encode() in raw  # the rows are there
    for key in made:
        assert key["key"].split("_", 2)[2].encode() not in raw
    code, out = run("db", "export", "scrape_keys", "--format", "json",
                    "--data-dir", str(store_dir))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 2 and all("secret_hash" not in r for r in rows)


def test_the_cli_refuses_bad_names(store_dir: Path) -> None:
    for name in ("", "_under-first", "x" * 65, "new\nline"):
        code, out = run("metrics-key", "add", name, "--data-dir", str(store_dir))
        assert code == 1 and "name" in out, (name, out)
    assert listed(store_dir) == {}
    code, out = run("metrics-key", "list", "--data-dir", str(store_dir.parent / "none"))
    assert code == 1 and "storenode init" in out


async def test_concurrent_scrapes_and_last_use_written_once_a_minute(
        client: TestClient, store_dir: Path) -> None:
    key = add_key(store_dir)
    statuses = await asyncio.gather(*(scrape(client, key["key"]) for _ in range(5)))
    assert [s for s, _ in statuses] == [200] * 5
    first = listed(store_dir)[key["id"]]["last_used_at"]
    assert (await scrape(client, key["key"]))[0] == 200
    assert listed(store_dir)[key["id"]]["last_used_at"] == first  # once a minute at most
