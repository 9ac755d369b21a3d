"""Fixtures of the platform tests: an HQ on each backend (SQLite, a throw-away PostgreSQL
database) with all three platforms configured, and a real local aiohttp server playing the
platforms' callback endpoints."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from cloud.app import create_app
from cloud.config import load_settings
from cloud.platforms import signing
from tests.cloud.api.conftest import db_url, login, make_hq  # noqa: F401  (fixture)
from tests.conftest import Api

from .signed import SECRETS, platform_env


class PlatformStub:
    """The platforms' callback endpoints: checks each callback's signature, records it, and
    answers ``fail_first`` requests per (platform, order, status) with HTTP 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[dict[str, Any]] = []
        self.attempts: dict[tuple[str, str, str], int] = {}
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["platform"]
        raw = await request.read()
        callback = self.verify(name, raw, request.headers)
        if callback is None:
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        key = (name, callback["order_id"], callback["status"])
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] <= self.fail_first:
            return web.json_response({"error": "busy"}, status=500)
        self.received.append({"platform": name, **callback})
        return web.json_response({"data": "ok"} if name == "meituan" else {"message": "ok"})

    @staticmethod
    def verify(name: str, raw: bytes, headers: Any) -> dict[str, Any] | None:
        if name == "meituan":
            fields = dict(parse_qsl(raw.decode(), keep_blank_values=True))
            if signing.meituan_sign(fields, SECRETS[name]) != fields.get("sig"):
                return None
            return {"order_id": fields["order_id"], "status": fields["status"],
                    "reason": fields["reason"]}
        if name == "eleme":
            envelope = json.loads(raw)
            if signing.eleme_sign(envelope, SECRETS[name]) != envelope["signature"]:
                return None
            message = json.loads(envelope["message"])
            return {"order_id": message["orderId"], "status": message["status"],
                    "reason": message["reason"]}
        stamp, sigs = signing.parse_hmac_header(headers.get(signing.GENERIC_HEADER, ""))
        if not signing.hmac_valid(raw, SECRETS[name], stamp, sigs):
            return None
        body = json.loads(raw)
        return {"order_id": body["order_id"], "status": body["status"], "reason": body["reason"]}


@pytest.fixture
async def stub() -> AsyncIterator[tuple[PlatformStub, str]]:
    found = PlatformStub(fail_first=1)
    app = web.Application()
    app.router.add_post("/cb/{platform}", found.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield found, f"http://127.0.0.1:{server.port}/cb"
    await server.close()


@pytest.fixture
def hq_dir(tmp_path: Path, db_url: str) -> Path:  # noqa: F811
    make_hq(tmp_path / "hq", db_url)
    return tmp_path / "hq"


@pytest.fixture
async def hq(hq_dir: Path, stub: tuple[PlatformStub, str],
             aiohttp_client: Any) -> AsyncIterator[TestClient]:
    settings = load_settings(hq_dir, env={**os.environ, **platform_env(stub[1])})
    client = await aiohttp_client(create_app(settings))
    yield client
    await client.close()
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not pending, f"test left tasks pending: {pending}"


@pytest.fixture
async def admin(hq: TestClient) -> Api:
    api = await login(hq, "admin")
    for sku in ("C001", "C002"):
        status, _ = await api.call("PUT", f"/api/v1/catalog/items/{sku}", {
            "name": f"Item {sku}", "category": "mains", "station": "kitchen",
            "price_cents": 1500})
        assert status == 200
    return api
