"""A store with a few tables: A1 and A2 in the hall, R1 a private room."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge.config import load_settings
from edge.tables import commands

from tests.helpers import store_with_tables

TABLES = (("A1", "A1", 4, "hall"), ("A2", "A2", 2, "hall"), ("R1", "包间1", 10, "rooms"))


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return store_with_tables(tmp_path / "store", TABLES)


@pytest.fixture
def tokens(store_dir: Path) -> dict[str, str]:
    """table id -> the token of its QR code."""
    return {t["id"]: t["token"] for t in commands.list_tables(load_settings(store_dir))}


class Guest:
    """A guest's phone at one table: the table's token is all it has."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token
        self.base = f"/api/v1/guest/{token}"

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        resp = await self.client.request(method, self.base + path, json=body,
                                         headers=headers or {})
        return resp.status, await resp.json(content_type=None)

    async def order(self, lines: list[dict[str, Any]], key: str = "guest-key-0001",
                    **extra: Any) -> tuple[int, Any]:
        return await self.call("POST", "/orders", {"lines": lines, **extra},
                               {"Idempotency-Key": key})


@pytest.fixture
def guest(client: TestClient, tokens: dict[str, str]) -> Guest:
    return Guest(client, tokens["A1"])


@pytest.fixture
def guest2(client: TestClient, tokens: dict[str, str]) -> Guest:
    return Guest(client, tokens["A2"])
