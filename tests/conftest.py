"""Fixtures, and the rule that a test leaves no thread, task or process behind."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from devtools.api import Api
from edge.app import create_app
from edge.config import load_settings

from .helpers import STAFF, make_store


def _children() -> set[int]:
    me = str(os.getpid())
    kids = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if fields[1].decode() == me and fields[0] != b"Z":
            kids.add(int(pid))
    return kids


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    threads_before = set(threading.enumerate())
    kids_before = _children()
    yield
    deadline = time.monotonic() + 5
    while True:
        threads = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        kids = _children() - kids_before
        if not threads and not kids:
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not threads, f"test left threads running: {[t.name for t in threads]}"
    assert not kids, f"test left child processes running: {sorted(kids)}"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return make_store(tmp_path / "store")


@pytest.fixture
async def client(store_dir: Path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    app = create_app(load_settings(store_dir))
    test_client = await aiohttp_client(app)
    yield test_client
    await test_client.close()
    await assert_no_tasks_left()


async def assert_no_tasks_left() -> None:
    """After an app was closed: no task of it (or of the test) is still pending."""
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    await asyncio.sleep(0)
    pending = [t for t in pending if not t.done()]
    assert not pending, f"test left tasks pending: {pending}"


async def login_as(client: TestClient, role: str) -> Api:
    resp = await client.post("/api/v1/auth/login", json={"staff": role, "pin": STAFF[role]})
    assert resp.status == 200, await resp.text()
    return Api(client, (await resp.json())["token"])


@pytest.fixture
async def manager(client: TestClient) -> Api:
    return await login_as(client, "manager")


@pytest.fixture
async def cashier(client: TestClient) -> Api:
    return await login_as(client, "cashier")


@pytest.fixture
async def kitchen(client: TestClient) -> Api:
    return await login_as(client, "kitchen")
