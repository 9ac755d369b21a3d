"""Fixtures of the HQ API tests: an HQ data dir on each backend (SQLite, a throw-away
PostgreSQL database), the app under aiohttp's test client, and logged-in users."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cloud.app import create_app
from cloud.broker import provision
from cloud.config import load_settings
from tests.conftest import Api
from tests.pg import throwaway_database

USERS = {"admin": ("admin-pass-1", "hq_admin"), "li": ("analyst-pass", "analyst")}
STORES = {"s1": "acme", "s2": "acme"}


@pytest.fixture(params=("sqlite", "postgres"))
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hq.db'}"
    else:
        with throwaway_database("storenode_test_hq") as url:
            yield url


def make_hq(data_dir: Path, db_url: str, broker: str = "") -> dict[str, dict[str, Any]]:
    """An initialised HQ data dir with ``STORES`` and ``USERS``; the stores' credentials."""
    provision.init_cloud(data_dir, database=db_url, broker=broker)
    creds = {s: provision.add_store(data_dir, s, t) for s, t in STORES.items()}
    for user, (password, role) in USERS.items():
        provision.add_hq_user(data_dir, user, password, role)
    return creds


@pytest.fixture
def hq_dir(tmp_path: Path, db_url: str) -> Path:
    make_hq(tmp_path / "hq", db_url)
    return tmp_path / "hq"


@pytest.fixture
async def hq(hq_dir: Path, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    client = await aiohttp_client(create_app(load_settings(hq_dir)))
    yield client
    await client.close()
    await asyncio.sleep(0)
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert not pending, f"test left tasks pending: {pending}"


async def login(client: TestClient, user: str) -> Api:
    resp = await client.post("/api/v1/auth/login",
                             json={"user": user, "password": USERS[user][0]})
    assert resp.status == 200, await resp.text()
    return Api(client, (await resp.json())["token"])


@pytest.fixture
async def admin(hq: TestClient) -> Api:
    return await login(hq, "admin")


@pytest.fixture
async def analyst(hq: TestClient) -> Api:
    return await login(hq, "li")


@contextmanager
def mosquitto(data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``mosquitto -c <data_dir>/mosquitto/mosquitto.conf``, as an operator would run it."""
    conf = data_dir / "mosquitto" / "mosquitto.conf"
    port = int(re.search(r"^listener (\d+)", conf.read_text(), re.M).group(1))  # type: ignore[union-attr]
    log = (data_dir / "mosquitto.log").open("ab")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, (data_dir / "mosquitto.log").read_text()
                time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
