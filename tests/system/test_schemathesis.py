"""The API against hostile input: schemathesis on the live OpenAPI documents of the edge and
of HQ (its platform webhooks included), then by hand.

Every answer to bad input is a 4xx JSON ``{"error": ...}`` and writes nothing; no input
makes the daemon answer 5xx.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from edge.db.database import db_path
from tests.cloud.api.conftest import USERS, make_hq
from tests.conftest import Api
from tests.helpers import ROOT, Daemon, free_port, login, make_store, request
from tests.invariants import check_database
from tests.cloud.platforms.signed import platform_env
from devtools.stack import wait_http

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
BUDGET_S = 40


def run_schemathesis(url: str, token: str, work: Path, env: dict[str, str]) -> None:
    """Schemathesis on ``url``'s OpenAPI document for ``BUDGET_S``: no 5xx, JSON errors."""
    seed = os.environ.get("SCHEMATHESIS_SEED", str(uuid.uuid4().int % 2**32))
    done = subprocess.run(
        [str(SCHEMATHESIS), "--no-color", "run", f"{url}/api/openapi.json",
         "--checks", "not_a_server_error,error_body_is_json",
         "-H", f"Authorization: Bearer {token}",
         "--max-examples", "50", "--max-time", str(BUDGET_S), "--seed", seed,
         "--request-timeout", "10", "--generation-database", "none"],
        cwd=work, env={**os.environ, **env, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True, text=True, timeout=BUDGET_S + 60,
    )
    failures = done.stdout.find("FAILURES")  # the failing requests, as curl commands
    output = done.stdout[max(0, failures - 40):][:12000] + done.stderr[-2000:]
    assert done.returncode == 0, f"schemathesis (seed {seed}) found failures:\n{output}"
    assert "generated" in done.stdout and "Operations:" in done.stdout, output
    status, health = request("GET", f"{url}/api/v1/health")
    assert (status, health["status"]) == (200, "ok"), health


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_only_json_errors(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    # as after the first sync: without HQ's tenant key the member routes answer 503
    (store / "member.key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    daemon = Daemon(store)
    daemon.start()
    try:
        run_schemathesis(daemon.url, login(daemon.url, "manager"), tmp_path, {})
    finally:
        daemon.stop()
    check_database(db_path(store))  # thousands of random writes left a sound database


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_at_hq_and_its_webhooks(tmp_path: Path) -> None:
    """HQ's whole document, the platform webhooks signed by the hook (schemathesis_hooks)."""
    make_hq(tmp_path / "hq", f"sqlite:///{tmp_path / 'hq.db'}")
    env = platform_env()
    port = free_port()
    log = tmp_path / "hq.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from cloud.cli import main; main()", "run", "--data-dir",
             str(tmp_path / "hq"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/api/v1/health", proc, log)
        status, body = request("POST", f"{url}/api/v1/auth/login",
                               {"user": "admin", "password": USERS["admin"][0]})
        assert status == 200, body
        run_schemathesis(url, body["token"], tmp_path, env)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- bad input by hand ---------------------------------------------------------------

OK_LINE = {"sku": "C001", "qty": 1}
OK_ORDER = {"channel": "pos", "lines": [OK_LINE]}

LINE_PREFIX = b'{"channel":"pos","lines":[{"sku":"C001","qty":1'
# (what, raw body, expected status, expected error code)
RAW_BODIES: list[tuple[str, bytes, int, str]] = [
    ("truncated JSON", b'{"channel": "pos", "lines": [', 400, "malformed_json"),
    ("empty body", b"", 400, "malformed_json"),
    ("not UTF-8", b'\xff\xfe{"channel": "pos"}', 400, "malformed_json"),
    ("deeply nested", b"[" * 20_000 + b"]" * 20_000, 400, "malformed_json"),
    ("5000-digit qty", b'{"channel":"pos","lines":[{"sku":"C001","qty":' + b"9" * 5000 + b"}]}",
     400, "malformed_json"),
    ("NaN qty", b'{"channel":"pos","lines":[{"sku":"C001","qty":NaN}]}', 422, "invalid_body"),
    ("Infinity qty", b'{"channel":"pos","lines":[{"sku":"C001","qty":1e999}]}', 422,
     "invalid_body"),
    ("oversized body", json.dumps({**OK_ORDER, "table": "x" * 70_000}).encode(), 413,
     "body_too_large"),
    # a lone UTF-16 surrogate is no Unicode text: no database stores it (was a 500)
    ("lone surrogate note", LINE_PREFIX + b',"note":"\\udc00"}]}', 400, "malformed_json"),
    ("lone surrogate table", LINE_PREFIX + b'}],"table":"\\ud83d"}', 400, "malformed_json"),
    ("lone surrogate key", LINE_PREFIX + b'}],"\\udfff":1}', 400, "malformed_json"),
    ("qty is 1e0", b'{"channel":"pos","lines":[{"sku":"C001","qty":1e0}]}', 422, "invalid_body"),
    ("nested 100 deep", LINE_PREFIX + b'}],"pickup":' + b"[" * 100 + b"]" * 100 + b"}",
     400, "malformed_json"),
]


def order_case(**changes: Any) -> dict[str, Any]:
    return {**OK_ORDER, **changes}


def line_case(**changes: Any) -> dict[str, Any]:
    return {"channel": "pos", "lines": [{**OK_LINE, **changes}]}


JSON_BODIES: list[tuple[str, Any, int, str]] = [
    ("body is a list", [OK_ORDER], 422, "invalid_body"),
    ("body is null", None, 422, "invalid_body"),
    ("body is a string", "order", 422, "invalid_body"),
    ("unknown sku", line_case(sku="NOPE-404"), 422, "unknown_sku"),
    ("sku with bad characters", line_case(sku="C001'; DROP TABLE orders;--"), 422,
     "invalid_body"),
    ("sku is a number", line_case(sku=1), 422, "invalid_body"),
    ("empty sku", line_case(sku=""), 422, "invalid_body"),
    ("qty 0", line_case(qty=0), 422, "invalid_body"),
    ("qty negative", line_case(qty=-1), 422, "invalid_body"),
    ("qty 10**9", line_case(qty=10**9), 422, "invalid_body"),
    ("qty 2**63", line_case(qty=2**63), 422, "invalid_body"),
    ("qty is a string", line_case(qty="2"), 422, "invalid_body"),
    ("qty is a float", line_case(qty=1.5), 422, "invalid_body"),
    ("qty is 1.0", line_case(qty=1.0), 422, "invalid_body"),  # JSON Schema's integer holds 1.0
    ("qty is a bool", line_case(qty=True), 422, "invalid_body"),
    ("qty is null", line_case(qty=None), 422, "invalid_body"),
    ("note too long", line_case(note="x" * 201), 422, "invalid_body"),
    ("unknown line field", line_case(price_cents=1), 422, "invalid_body"),
    ("unknown channel", order_case(channel="uber_eats"), 422, "invalid_body"),
    ("channel is a number", order_case(channel=5), 422, "invalid_body"),
    ("channel missing", {"lines": [OK_LINE]}, 422, "invalid_body"),
    ("lines missing", {"channel": "pos"}, 422, "invalid_body"),
    ("lines empty", order_case(lines=[]), 422, "invalid_body"),
    ("lines is an object", order_case(lines=OK_LINE), 422, "invalid_body"),
    ("101 lines", order_case(lines=[OK_LINE] * 101), 422, "invalid_body"),
    ("pickup is a string", order_case(pickup="yes"), 422, "invalid_body"),
    ("empty member", order_case(member=""), 422, "invalid_body"),
    ("total sent by client", order_case(total_cents=1), 422, "invalid_body"),
    ("more than in stock", order_case(lines=[{"sku": "C001", "qty": 999}]), 409, "out_of_stock"),
]

BAD_KEYS: list[tuple[str, dict[str, str]]] = [
    ("missing Idempotency-Key", {}),
    ("empty key", {"Idempotency-Key": ""}),
    ("key too short", {"Idempotency-Key": "abc"}),
    ("key with spaces", {"Idempotency-Key": "key with spaces"}),
    ("key too long", {"Idempotency-Key": "k" * 129}),
]


async def snapshot(api: Api, store_dir: Path) -> dict[str, Any]:
    _, orders = await api.get("/api/v1/orders?limit=1000")
    _, inventory = await api.get("/api/v1/inventory")
    state = check_database(db_path(store_dir))
    return {"orders": len(orders), "db_orders": state["orders"], "last_seq": state["last_seq"],
            "stock": {row["sku"]: row["on_hand"] for row in inventory}}


async def post_raw(api: Api, path: str, raw: bytes,
                   headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    hdrs = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex, **(headers or {})}
    resp = await api.client.post(path, data=raw, headers=hdrs)
    text = await resp.text()
    try:
        return resp.status, json.loads(text), resp.content_type
    except ValueError:
        return resp.status, text[:200], resp.content_type


async def expect_refused(api: Api, store_dir: Path, cases: list[tuple[str, bytes, int, str]],
                         path: str = "/api/v1/orders",
                         headers: dict[str, str] | None = None) -> list[str]:
    """Send each case; return what went wrong (wrong answer, or a write happened)."""
    problems = []
    for what, raw, want_status, want_code in cases:
        before = await snapshot(api, store_dir)
        status, body, ctype = await post_raw(api, path, raw, headers)
        got_code = body.get("error") if isinstance(body, dict) else None
        if (status, got_code, ctype) != (want_status, want_code, "application/json"):
            problems.append(f"{what}: expected {want_status} {want_code}, got {status} "
                            f"{ctype} {body!r:.200}")
        if await snapshot(api, store_dir) != before:
            problems.append(f"{what}: something was written")
    return problems


async def test_bad_order_bodies_are_4xx_json_and_write_nothing(cashier: Api,
                                                               store_dir: Path) -> None:
    cases = RAW_BODIES + [(what, json.dumps(body).encode(), status, code)
                          for what, body, status, code in JSON_BODIES]
    problems = await expect_refused(cashier, store_dir, cases)
    assert not problems, "\n".join(problems)


async def test_bad_idempotency_keys_are_422_and_write_nothing(cashier: Api,
                                                              store_dir: Path) -> None:
    problems = []
    for what, headers in BAD_KEYS:
        before = await snapshot(cashier, store_dir)
        hdrs = {"Authorization": f"Bearer {cashier.token}", **headers}
        resp = await cashier.client.post("/api/v1/orders", json=OK_ORDER, headers=hdrs)
        body = await resp.json(content_type=None)
        if (resp.status, body.get("error")) != (422, "idempotency_key_required"):
            problems.append(f"{what}: got {resp.status} {body}")
        if await snapshot(cashier, store_dir) != before:
            problems.append(f"{what}: something was written")
    assert not problems, "\n".join(problems)


async def test_reused_key_with_another_body_is_422_and_writes_nothing(cashier: Api,
                                                                      store_dir: Path) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    status, first = await cashier.post("/api/v1/orders", OK_ORDER, headers=key)
    assert status == 201, first
    before = await snapshot(cashier, store_dir)
    for other in (order_case(channel="waiter"), line_case(qty=2), line_case(sku="C002")):
        status, err = await cashier.post("/api/v1/orders", other, headers=key)
        assert (status, err["error"]) == (422, "idempotency_key_reused"), err
    assert await snapshot(cashier, store_dir) == before
    status, again = await cashier.post("/api/v1/orders", OK_ORDER, headers=key)
    assert (status, again) == (200, first)


async def test_bad_movements_and_transitions_are_4xx_json(manager: Api, cashier: Api,
                                                          store_dir: Path) -> None:
    movements = [
        ("delta 0", {"sku": "C001", "delta": 0, "reason": "receipt"}, 422, "invalid_body"),
        ("delta -10**9", {"sku": "C001", "delta": -10**9, "reason": "waste"}, 422,
         "invalid_body"),
        ("unknown reason", {"sku": "C001", "delta": 1, "reason": "theft"}, 422, "invalid_body"),
        ("delta and counted", {"sku": "C001", "delta": 1, "counted": 5, "reason": "stocktake"},
         422, "invalid_body"),
        ("unknown sku", {"sku": "NOPE", "delta": 1, "reason": "receipt"}, 404, "unknown_sku"),
        ("below zero", {"sku": "C001", "delta": -101, "reason": "waste"}, 409, "negative_stock"),
    ]
    cases = [(w, json.dumps(b).encode(), s, c) for w, b, s, c in movements]
    problems = await expect_refused(manager, store_dir, cases, "/api/v1/inventory/movements")
    status, order = await cashier.post("/api/v1/orders", OK_ORDER,
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, order
    path = f"/api/v1/orders/{order['id']}/transitions"
    transitions = [
        ("unknown status", b'{"to": "eaten"}', 422, "invalid_body"),
        ("back to placed", b'{"to": "placed"}', 422, "invalid_body"),
        ("skip ahead", b'{"to": "completed"}', 409, "invalid_transition"),
        ("malformed", b'{"to": ', 400, "malformed_json"),
    ]
    problems += await expect_refused(manager, store_dir, transitions, path)
    problems += await expect_refused(manager, store_dir, [
        ("unknown order", b'{"to": "accepted"}', 404, "unknown_order")],
        "/api/v1/orders/01ARZ3NDEKTSV4RRFFQ69G5FAV/transitions")
    assert not problems, "\n".join(problems)


async def test_unauthenticated_and_forbidden_writes_are_json(kitchen: Api,
                                                             store_dir: Path) -> None:
    no_token = Api(kitchen.client, "not-a-token")
    for api, want in ((no_token, (401, "unauthorized")), (kitchen, (403, "forbidden"))):
        before = await snapshot(kitchen, store_dir)
        status, body, ctype = await post_raw(api, "/api/v1/orders", json.dumps(OK_ORDER).encode())
        assert (status, body["error"], ctype) == (*want, "application/json")
        assert await snapshot(kitchen, store_dir) == before


async def test_bad_queries_are_400_json(kitchen: Api) -> None:
    problems = []
    for path in ("/api/v1/orders?since=0001-01-01T00:00:00%2B14:00",  # before year 1 in UTC
                 "/api/v1/orders?since=9999-12-31T23:59:59-14:00",  # after 9999 in UTC
                 "/api/v1/orders?since=yesterday", "/api/v1/orders?limit=0",
                 "/api/v1/orders?limit=1e3", "/api/v1/orders?status=lost",
                 "/api/v1/orders?channel=%00", "/api/v1/events?after=%C2%B2",  # "²".isdigit()
                 "/api/v1/events?after=-1",
                 "/api/v1/orders?limit=%D9%A3", "/api/v1/orders?limit=%203",  # int(): "٣", " 3"
                 "/api/v1/orders?limit=1_0", "/api/v1/orders?limit=%C2%B2"):
        resp = await kitchen.client.get(path, headers={"Authorization": f"Bearer {kitchen.token}"})
        body = await resp.json(content_type=None)
        if (resp.status, isinstance(body, dict) and body.get("error")) != (400, "invalid_query"):
            problems.append(f"{path}: {resp.status} {body}")
    assert not problems, "\n".join(problems)


async def test_sku_with_trailing_newline_is_refused(manager: Api, store_dir: Path) -> None:
    item = {"name": "n", "category": "c", "station": "wok", "price_cents": 100}
    bad = [(repr(sku), json.dumps({**item, "sku": sku}).encode(), 422, "invalid_body")
           for sku in ("X1\n", "X1\r\n", " X1", "")]
    problems = await expect_refused(manager, store_dir, bad, "/api/v1/catalog/items")
    assert not problems, "\n".join(problems)


async def test_lone_surrogates_and_floats_for_integers_are_refused(manager: Api,
                                                                   store_dir: Path) -> None:
    """Every body reader: a lone surrogate is 400 (SQLite cannot encode it: was a 500), and
    1.0 is no integer (JSON Schema's "integer" takes it; a float must not reach the store)."""
    item = b'{"sku":"X1","category":"c","station":"wok","price_cents":100,'
    items = [("surrogate name", item + b'"name":"\\ud800"}', 400, "malformed_json"),
             ("surrogate category key", item + b'"name":"n","\\udc00":1}', 400,
              "malformed_json"),
             ("price 100.0", item + b'"name":"n","price_cents":100.0}', 422, "invalid_body"),
             ("safety stock 1.0", item + b'"name":"n","safety_stock":1.0}', 422,
              "invalid_body")]
    movements = [("surrogate ref", b'{"sku":"C001","delta":1,"reason":"receipt","ref":"\\udc00"}',
                  400, "malformed_json"),
                 ("delta 1.0", b'{"sku":"C001","delta":1.0,"reason":"receipt"}', 422,
                  "invalid_body"),
                 ("counted true", b'{"sku":"C001","counted":true,"reason":"stocktake"}', 422,
                  "invalid_body")]
    problems = await expect_refused(manager, store_dir, items, "/api/v1/catalog/items")
    problems += await expect_refused(manager, store_dir, movements, "/api/v1/inventory/movements")
    assert not problems, "\n".join(problems)
