"""Bad input to the HQ API is always a 4xx JSON error body and writes nothing: malformed JSON,
wrong types, bad tokens, an analyst writing, login lock-out."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.test_utils import TestClient

from cloud import keys
from common.http.auth import TokenSigner
from tests.conftest import Api

from .conftest import USERS
from .test_api import ITEM, db

WRITES = (
    ("PUT", "/api/v1/catalog/items/N-01", ITEM),
    ("PUT", "/api/v1/catalog/items/N-01/quotas", {"meituan": 5}),
    ("POST", "/api/v1/stores/s1/inventory/N-01/stocktake", {"counted": 3}),
)
BAD_ITEMS = [
    {},
    {**ITEM, "price_cents": "2800"},
    {**ITEM, "price_cents": -1},
    {**ITEM, "price_cents": 10**12},
    {**ITEM, "price_cents": 1.5},
    {**ITEM, "price_cents": True},
    {**ITEM, "price_cents": 2800.0},  # JSON Schema's "integer" holds 2800.0: ours does not
    {**ITEM, "channel_prices": {"meituan": 3000.0}},
    {**ITEM, "channel_prices": {"nowhere": 100}},
    {**ITEM, "channel_prices": {"meituan": None}},
    {**ITEM, "name": ""},
    {**ITEM, "name": "x" * 101},
    {**ITEM, "sku": "N-01"},          # the sku is the path's
    {**ITEM, "available": False},     # the store's own toggle, not HQ's
    [ITEM],
    "item",
    None,
]


ARABIC_2026 = "%D9%A2%D9%A0%D9%A2%D9%A6"  # "٢٠٢٦": a regex's \d and int() read it as 2026


async def assert_nothing_written(hq: TestClient) -> None:
    for store in ("s1", "s2"):  # cursor 1 is the tenant key, made with the store
        assert (await db(hq, "changes_since", store, 1)).changes == []
    assert await db(hq, "hq_catalog") == []


async def raw(client: TestClient, method: str, path: str, data: bytes | str,
              token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    resp = await client.request(method, path, data=data, headers=headers)
    assert resp.content_type == "application/json", (path, resp.status)
    body = await resp.json()
    assert set(body) == {"error", "detail"}, body
    return resp.status, body


@pytest.mark.parametrize("item", BAD_ITEMS)
async def test_invalid_items_are_422(hq: TestClient, admin: Api, item: object) -> None:
    status, body = await raw(hq, "PUT", "/api/v1/catalog/items/N-01", json.dumps(item),
                             admin.token)
    assert status == 422 and body["error"] == "invalid_body", body
    await assert_nothing_written(hq)


async def test_malformed_json_bad_queries_and_paths_are_4xx(hq: TestClient, admin: Api) -> None:
    cases = [
        ("PUT", "/api/v1/catalog/items/N-01", b"{not json", 400),
        ("PUT", "/api/v1/catalog/items/N-01", b"\xff\xfe", 400),
        ("PUT", "/api/v1/catalog/items/N-01", b"[" * 100_000, 400),
        ("PUT", "/api/v1/catalog/items/N-01", b"", 400),
        ("PUT", "/api/v1/catalog/items/N-01", b"x" * 300_000, 413),
        ("PUT", "/api/v1/catalog/items/bad%20sku", json.dumps(ITEM), 422),
        ("PUT", "/api/v1/catalog/items/N-01?stores=", json.dumps(ITEM), 400),
        ("PUT", "/api/v1/catalog/items/N-01?stores=s1,,s2", json.dumps(ITEM), 400),
        ("PUT", "/api/v1/catalog/items/N-01/quotas", json.dumps({}), 422),
        ("PUT", "/api/v1/catalog/items/N-01/quotas", json.dumps({"pos": -1}), 422),
        ("PUT", "/api/v1/catalog/items/N-01/quotas", json.dumps({"tv": 1}), 422),
        ("POST", "/api/v1/stores/s1/inventory/N-01/stocktake", json.dumps({"counted": -1}), 422),
        ("POST", "/api/v1/stores/s1/inventory/N-01/stocktake", json.dumps({"counted": "3"}), 422),
        ("POST", "/api/v1/stores/s1/inventory/N-01/stocktake", json.dumps({"counted": 3.0}), 422),
        ("POST", "/api/v1/stores/s1/inventory/N-01/stocktake", json.dumps({"delta": 3}), 422),
        ("GET", "/api/v1/stores/s1/orders?limit=0", "", 400),
        ("GET", "/api/v1/stores/s1/orders?limit=abc", "", 400),
        ("GET", "/api/v1/stores/s1/orders?limit=%D9%A3", "", 400),  # Arabic-Indic three
        ("GET", "/api/v1/stores/s1/orders?limit=%C2%B2", "", 400),  # "²".isdigit() is True
        ("GET", "/api/v1/recommendations/bundles?min_support=%D9%A0.%D9%A5", "", 400),  # ٠.٥
        ("GET", f"/api/v1/reports/flows?from=2026-01-01&to={ARABIC_2026}-02-01", "", 400),
        ("GET", f"/api/v1/reports/channels/months?from=2026-01&to={ARABIC_2026}-02", "", 400),
        ("GET", f"/api/v1/settlements/{ARABIC_2026}-01?a=s1&b=s2", "", 400),
        # no such day: date arithmetic raised (500) on year 0 and 30 February
        ("POST", "/api/v1/reports/channels/months/refresh?from=0000-08&to=0000-08", "", 400),
        ("GET", "/api/v1/reports/channels?from=0000-01-01&to=2026-01-01", "", 400),
        ("GET", "/api/v1/reports/channels?from=2026-02-30&to=2026-03-01", "", 400),
        ("GET", "/api/v1/reports/footfall?from=2026-02-30&to=2026-03-01", "", 400),
        ("GET", "/api/v1/settlements/0000-01?a=s1&b=s2", "", 400),
        ("GET", "/api/v1/stores/s1/orders?since=yesterday", "", 400),
        ("GET", "/api/v1/stores/s1/orders?since=0001-01-01T00:00:00%2B05:00", "", 400),
        ("GET", "/api/v1/nothing-here", "", 404),
        ("DELETE", "/api/v1/stores", "", 405),
    ]
    for method, path, data, expected in cases:
        status, body = await raw(hq, method, path, data, admin.token)
        assert status == expected, (method, path, status, body)
    await assert_nothing_written(hq)


async def test_bad_and_expired_tokens_are_401(hq: TestClient) -> None:
    expired = TokenSigner(hq.app[keys.SETTINGS].secret, 60,
                          clock=lambda: time.time() - 3600).issue("admin", "hq_admin")
    forged = TokenSigner(b"another secret " * 3, 3600).issue("admin", "hq_admin")
    for token in (None, "", "garbage", "a.b", expired, forged):
        for method, path, item in WRITES:
            status, body = await raw(hq, method, path, json.dumps(item), token)
            assert status == 401 and body["error"] == "unauthorized"
    status, _ = await raw(hq, "GET", "/api/v1/stores", "", "x" * 5000)
    assert status == 401
    await assert_nothing_written(hq)


async def test_analyst_reads_but_every_write_is_403(hq: TestClient, analyst: Api) -> None:
    assert (await analyst.get("/api/v1/stores"))[0] == 200
    for method, path, item in WRITES:
        status, body = await analyst.call(method, path, item)
        assert status == 403 and body["error"] == "forbidden", (path, body)
    await assert_nothing_written(hq)


async def test_wrong_passwords_lock_the_user_out(hq: TestClient) -> None:
    url = "/api/v1/auth/login"
    for _ in range(hq.app[keys.SETTINGS].max_failures):
        status, body = await raw(hq, "POST", url,
                                 json.dumps({"user": "admin", "password": "wrong-pass"}), None)
        assert status == 401 and body["error"] == "invalid_credentials"
    good = json.dumps({"user": "admin", "password": USERS["admin"][0]})
    status, body = await raw(hq, "POST", url, good, None)
    assert status == 429 and body["error"] == "too_many_attempts"
    assert body["detail"]["retry_after_s"] > 0


async def test_login_input_errors(hq: TestClient) -> None:
    url = "/api/v1/auth/login"
    for data, expected in (
        ('{"user": "admin"}', 422),
        ('{"user": 1, "password": "x"}', 422),
        ('{"user": "a\\u0000b", "password": "admin-pass-1"}', 422),
        ('{"user": "nobody", "password": "whatever-1"}', 401),
        ("nope", 400),
    ):
        status, _ = await raw(hq, "POST", url, data, None)
        assert status == expected, data


async def test_lone_surrogates_are_malformed_json(hq: TestClient, admin: Api) -> None:
    """Not a 500 from the database, which cannot encode them; at every body reader."""
    item = json.dumps(ITEM)[:-1]
    for method, path, data in (
        ("PUT", "/api/v1/catalog/items/N-01", item + ', "name": "\\ud800"}'),
        ("PUT", "/api/v1/catalog/items/N-01", item + ', "\\udc00": 1}'),
        ("PUT", "/api/v1/catalog/items/N-01/quotas", '{"meituan": 1, "\\udfff": 2}'),
        ("POST", "/api/v1/members/expire", '{"months": 1, "\\ud83d": 1}'),
        ("POST", "/api/v1/auth/login", '{"user": "admin", "password": "\\udc00"}'),
    ):
        status, body = await raw(hq, method, path, data, admin.token)
        assert (status, body["error"]) == (400, "malformed_json"), (path, data, body)
    await assert_nothing_written(hq)


@pytest.mark.parametrize("months", [1.0, 12.0, True, "1"])
async def test_expiry_months_are_an_integer_not_a_float_or_a_bool(hq: TestClient, admin: Api,
                                                                  months: object) -> None:
    """1.0 passed JSON Schema's "integer" and reached the date arithmetic (a 500)."""
    status, body = await raw(hq, "POST", "/api/v1/members/expire",
                             json.dumps({"months": months}), admin.token)
    assert (status, body["error"]) == (422, "invalid_body"), body
    await assert_nothing_written(hq)
