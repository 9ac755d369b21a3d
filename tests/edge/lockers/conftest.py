"""A store with a locker bank configured, its app under a test client, and helpers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge import keys
from edge.app import create_app
from edge.config import load_settings
from tests.conftest import Api, login_as


def add_config(store_dir: Path, text: str) -> None:
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n" + text)


async def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await asyncio.sleep(0.02)


def events(store_dir: Path, prefix: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(store_dir / "storenode.db")
    try:
        rows = conn.execute("SELECT type, data FROM outbox WHERE type LIKE ? ORDER BY seq",
                            (prefix + "%",)).fetchall()
    finally:
        conn.close()
    return [{"type": t, **json.loads(d)} for t, d in rows]


@pytest.fixture
async def app_client(store_dir: Path, aiohttp_client: Any) -> AsyncIterator[
        Callable[[str], Any]]:
    """``await start(extra_toml)``: the store's app with that config added, as a client."""
    clients: list[TestClient] = []

    async def start(extra: str) -> TestClient:
        add_config(store_dir, extra)
        client = await aiohttp_client(create_app(load_settings(store_dir)))
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not pending, f"test left tasks pending: {pending}"


async def ready_order(cashier: Api, kitchen: Api, *, pickup: bool = True,
                      channel: str = "pos") -> dict[str, Any]:
    status, order = await cashier.post(
        "/api/v1/orders", {"channel": channel, "lines": [{"sku": "C001", "qty": 1}],
                           "pickup": pickup}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert status == 201, order
    for to in ("accepted", "preparing", "ready"):
        status, order = await kitchen.post(f"/api/v1/orders/{order['id']}/transitions",
                                           {"to": to})
        assert status == 200, order
    return order


async def staff(client: TestClient) -> tuple[Api, Api, Api]:
    return (await login_as(client, "cashier"), await login_as(client, "kitchen"),
            await login_as(client, "manager"))


def service(client: TestClient) -> Any:
    return client.server.app[keys.LOCKERS]
