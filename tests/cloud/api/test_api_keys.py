"""HQ's API keys (docs/hq-api.md, "Machine credentials"), on SQLite and PostgreSQL: made and
revoked through the API and the CLI, scopes enforced route by route, refused at once when
revoked, and never stored in clear."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from cloud import keys
from cloud.apikeys.scopes import GUEST_ROUTES, PLATFORM_ROUTES, SCOPES
from cloud.cli import cli
from cloud.database import CloudDb
from cloud.routes import ROUTES
from common.clock import iso, utc_now
from common.http.apikeys import digest
from tests.conftest import Api
from tests.helpers import manual

ITEM = {"name": "Tea", "category": "drinks", "station": "bar", "price_cents": 500}


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def make_key(admin: Api, name: str, *scopes: str) -> tuple[Api, dict[str, Any]]:
    """A key made by the logged-in admin, and a client that sends it."""
    status, made = await admin.post("/api/v1/keys", {"name": name, "scopes": list(scopes)})
    assert status == 201, made
    return Api(admin.client, made["key"]), made


async def listed(admin: Api, key_id: str) -> dict[str, Any]:
    status, found = await admin.get("/api/v1/keys")
    assert status == 200
    (row,) = [k for k in found if k["id"] == key_id]
    return row  # type: ignore[no-any-return]


async def scrape(client: TestClient, key: str) -> int:
    resp = await client.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    return resp.status


async def test_a_key_made_used_and_revoked_through_the_api(hq: TestClient, admin: Api) -> None:
    resp = await hq.post("/api/v1/keys", json={"name": "prometheus", "scopes": ["metrics"]},
                         headers={"Authorization": f"Bearer {admin.token}"})
    made = await resp.json()
    assert resp.status == 201 and resp.headers["Cache-Control"] == "no-store"
    assert made["key"].startswith(f"snk_{made['id']}_") and made["scopes"] == ["metrics"]
    assert made["prefix"] == f"snk_{made['id']}" and made["created_by"] == "user:admin"
    row = await listed(admin, made["id"])
    assert "key" not in row and "secret_hash" not in row
    assert row["last_used_at"] is None and row["revoked_at"] is None

    assert await scrape(hq, made["key"]) == 200
    assert (await listed(admin, made["id"]))["last_used_at"] is not None

    status, revoked = await admin.call("DELETE", f"/api/v1/keys/{made['id']}")
    assert status == 200 and revoked["revoked_by"] == "user:admin" and revoked["revoked_at"]
    resp = await hq.get("/metrics", headers={"Authorization": f"Bearer {made['key']}"})
    assert resp.status == 401 and (await resp.json())["error"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    again = await admin.call("DELETE", f"/api/v1/keys/{made['id']}")
    assert again == (200, revoked)  # the first revocation stays on record
    for missing in ("0123456789ab", "not-a-key-id"):
        status, body = await admin.call("DELETE", f"/api/v1/keys/{missing}")
        assert status == 404 and body["error"] == "unknown_key"


async def test_a_key_made_and_revoked_by_the_cli_works_at_once(hq_dir: Path, hq: TestClient,
                                                               admin: Api) -> None:
    d = str(hq_dir)
    code, out = run("key", "add", "bi tool", "--scope", "read", "--scope", "metrics",
                    "--scope", "read", "--data-dir", d)
    assert code == 0, out
    made = json.loads(out)
    assert set(made) == {"id", "name", "scopes", "key"}
    assert made["name"] == "bi tool" and made["scopes"] == ["metrics", "read"]
    bi = Api(hq, made["key"])
    assert (await bi.get("/api/v1/stores"))[0] == 200
    assert await scrape(hq, made["key"]) == 200

    code, out = run("key", "list", "--data-dir", d)
    (row,) = json.loads(out)
    assert code == 0 and row["id"] == made["id"] and made["key"] not in out
    assert row["created_by"].startswith("cli") and row["last_used_at"] is not None
    assert row == await listed(admin, made["id"])  # the API lists what the CLI made

    code, out = run("key", "revoke", made["id"], "--data-dir", d)
    assert code == 0 and json.loads(out)["revoked_at"]
    assert (await bi.get("/api/v1/stores"))[0] == 401  # no cache: refused at once
    code, out = run("key", "revoke", "0123456789ab", "--data-dir", d)
    assert code == 1 and "no API key" in out


def test_the_cli_refuses_bad_names_and_scopes(hq_dir: Path) -> None:
    d = str(hq_dir)
    for name in ("", "_under-first", "x" * 65, "new\nline", "名字"):
        code, out = run("key", "add", name, "--scope", "read", "--data-dir", d)
        assert code == 1 and "name" in out, (name, out)
    code, out = run("key", "add", "ok", "--scope", "root", "--data-dir", d)
    assert code == 2 and "root" in out
    code, out = run("key", "add", "ok", "--data-dir", d)
    assert code == 2 and "--scope" in out
    assert json.loads(run("key", "list", "--data-dir", d)[1]) == []


async def test_each_scope_opens_its_routes_only(hq: TestClient, admin: Api) -> None:
    metrics, _ = await make_key(admin, "prometheus", "metrics")
    read, _ = await make_key(admin, "metabase", "read")
    guest, _ = await make_key(admin, "mini-program", "guest")
    platform, _ = await make_key(admin, "meituan-bridge", "platform")
    root, _ = await make_key(admin, "deploy", "admin")

    assert await scrape(hq, metrics.token) == 200
    status, body = await metrics.get("/api/v1/stores/s1/orders")
    assert status == 403 and body["error"] == "forbidden"
    assert body["detail"]["scopes"] == ["metrics"] and body["detail"]["needs"] == ["read", "admin"]

    assert (await read.get("/api/v1/stores/s1/orders"))[0] == 200
    assert (await read.get("/api/v1/conflicts"))[0] == 200
    status, body = await read.call("PUT", "/api/v1/catalog/items/N-01", ITEM)
    assert status == 403 and body["detail"]["needs"] == ["admin"]
    assert (await read.post("/api/v1/conflicts/1/resolve", {}))[0] == 403
    assert await scrape(hq, read.token) == 403

    tomorrow = (utc_now() + timedelta(days=2)).date().isoformat()
    booking = {"name": "周", "party": 2, "at": f"{tomorrow}T19:00", "source": "mini_program"}
    status, booked = await guest.call("POST", "/api/v1/stores/s1/reservations", booking,
                                      {"Idempotency-Key": "mini-program-0001"})
    assert status == 202 and booked["status"] == "pending", booked
    assert (await guest.get(f"/api/v1/stores/s1/reservations/{booked['id']}"))[0] == 200
    assert (await guest.get("/api/v1/stores/s1/reservations?day=" + tomorrow))[0] == 403
    assert (await guest.get("/api/v1/stores"))[0] == 403

    assert (await platform.get("/api/v1/platforms/orders"))[0] == 200
    assert (await platform.get("/api/v1/platforms/callbacks"))[0] == 200
    assert (await platform.get("/api/v1/stores/s1/orders"))[0] == 403

    assert (await root.call("PUT", "/api/v1/catalog/items/N-01", ITEM))[0] == 200
    assert (await root.get("/api/v1/stores/s1/orders"))[0] == 200
    assert await scrape(hq, root.token) == 200


async def test_no_key_manages_keys_and_an_analyst_neither(hq: TestClient, admin: Api,
                                                          analyst: Api) -> None:
    root, made = await make_key(admin, "deploy", *SCOPES)
    for who in (root, analyst):
        for method, path, body in (("GET", "/api/v1/keys", None),
                                   ("POST", "/api/v1/keys", {"name": "x", "scopes": ["admin"]}),
                                   ("DELETE", f"/api/v1/keys/{made['id']}", None)):
            status, answer = await who.call(method, path, body)
            assert status == 403 and answer["error"] == "forbidden", (who, path, answer)
    assert (await listed(admin, made["id"]))["revoked_at"] is None
    assert len((await admin.get("/api/v1/keys"))[1]) == 1


async def test_unknown_malformed_and_user_tokens_are_told_apart(hq: TestClient,
                                                               admin: Api) -> None:
    _, made = await make_key(admin, "prometheus", "metrics")
    forged = made["key"][:-4] + ("AAAA" if not made["key"].endswith("AAAA") else "BBBB")
    for token in (forged, f"snk_{'0' * 12}_{'x' * 43}", "snk_short", "snk_", made["prefix"]):
        resp = await hq.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401 and (await resp.json())["error"] == "unauthorized", token
    assert await scrape(hq, admin.token) == 200  # a user's token is not taken for a key
    # a key in the URL is never looked at
    assert (await hq.get(f"/metrics?token={made['key']}")).status == 401
    # public routes do not look at a key, even a bad one
    resp = await hq.get("/api/v1/health", headers={"Authorization": "Bearer snk_bad"})
    assert resp.status == 200


async def test_bad_bodies_are_refused_and_nothing_is_made(admin: Api) -> None:
    for body in ({"name": "", "scopes": ["read"]}, {"name": "x" * 65, "scopes": ["read"]},
                 {"name": "bad\n", "scopes": ["read"]}, {"name": " x", "scopes": ["read"]},
                 {"name": "x", "scopes": []}, {"name": "x", "scopes": ["root"]},
                 {"name": "x", "scopes": ["read", "read"]}, {"name": "x", "scopes": "read"},
                 {"name": "x"}, {"scopes": ["read"]}, {"name": "x", "scopes": ["read"], "y": 1},
                 {"name": 5, "scopes": ["read"]}, []):
        status, answer = await admin.post("/api/v1/keys", body)
        assert status == 422 and answer["error"] == "invalid_body", (body, answer)
    resp = await admin.client.post("/api/v1/keys", data=b"{not json",
                                   headers={"Authorization": f"Bearer {admin.token}"})
    assert resp.status == 400 and (await resp.json())["error"] == "malformed_json"
    assert await admin.get("/api/v1/keys") == (200, [])


async def test_last_use_is_written_at_most_once_a_minute(hq: TestClient, admin: Api) -> None:
    key, made = await make_key(admin, "prometheus", "metrics")
    assert await scrape(hq, key.token) == 200
    first = (await listed(admin, made["id"]))["last_used_at"]
    assert await scrape(hq, key.token) == 200
    assert (await listed(admin, made["id"]))["last_used_at"] == first
    earlier = iso(utc_now() - timedelta(seconds=61))
    await hq.app[keys.DB].call(_set_last_used, made["id"], earlier)
    assert await scrape(hq, key.token) == 200
    assert (await listed(admin, made["id"]))["last_used_at"] > earlier


def _set_last_used(db: CloudDb, key_id: str, at: str) -> None:
    with db._db.write():
        db._db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at, key_id))


def _every_row(db: CloudDb) -> str:
    """Every row of every table of HQ's database, as text."""
    backend = db._db
    if backend.name == "sqlite":
        tables = [r["name"] for r in backend.rows(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
    else:
        tables = [r["table_name"] for r in backend.rows(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")]
    return repr([backend.rows(f'SELECT * FROM "{t}"') for t in sorted(tables)])


async def test_the_secret_is_never_stored_in_clear(hq_dir: Path, hq: TestClient, admin: Api,
                                                   db_url: str) -> None:
    _, by_api = await make_key(admin, "prometheus", "metrics")
    by_cli = json.loads(run("key", "add", "metabase", "--scope", "read",
                            "--data-dir", str(hq_dir))[1])
    await scrape(hq, by_api["key"])
    await admin.call("DELETE", f"/api/v1/keys/{by_api['id']}")
    stored = await hq.app[keys.DB].call(_every_row)
    hashes = await hq.app[keys.DB].call(
        lambda db: {r["id"]: r["secret_hash"] for r in db._db.rows("SELECT * FROM api_keys")})
    assert "metabase" in stored and by_api["id"] in stored  # the scan sees the keys' rows
    for made in (by_api, by_cli):
        secret = made["key"].split("_", 2)[2]
        assert made["key"] not in stored and secret not in stored
        assert hashes[made["id"]] == digest(made["key"])
    if db_url.startswith("sqlite:///"):  # the file itself, its WAL too
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        for made in (by_api, by_cli):
            assert made["key"].split("_", 2)[2].encode() not in raw


async def test_the_openapi_document_names_the_scopes_of_each_operation(hq: TestClient) -> None:
    doc = await (await hq.get("/api/openapi.json")).json()
    paths = doc["paths"]
    assert paths["/metrics"]["get"]["x-key-scopes"] == ["metrics", "admin"]
    assert paths["/api/v1/stores"]["get"]["x-key-scopes"] == ["read", "admin"]
    assert paths["/api/v1/catalog/items/{sku}"]["put"]["x-key-scopes"] == ["admin"]
    assert paths["/api/v1/platforms/orders"]["get"]["x-key-scopes"] == [
        "read", "platform", "admin"]
    for method in ("get", "post"):
        assert paths["/api/v1/keys"][method]["x-key-scopes"] == []
    assert "x-key-scopes" not in paths["/api/v1/auth/login"]["post"]  # public


def test_the_scoped_routes_exist_and_the_manual_lists_them() -> None:
    table = {(r.method, r.path) for r in ROUTES if not r.public}
    assert GUEST_ROUTES <= table and PLATFORM_ROUTES <= table
    page = manual("hq-api.md")
    assert "## Machine credentials (API keys)" in page
    for scope in SCOPES:
        assert f"`{scope}`" in page, scope
    for method, path in GUEST_ROUTES | PLATFORM_ROUTES:
        assert f"`{method} {path.replace('{store}', '{s}')}`" in page, path
