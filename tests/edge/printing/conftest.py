"""Printing fixtures: fake ESC/POS printers (TCP and pty) and edge apps configured to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge import keys
from edge.app import create_app
from edge.config import load_settings
from edge.printing.coordinator import PrintCoordinator
from tests.conftest import Api, assert_no_tasks_left, login_as
from tests.drivers.printer.conftest import fake, fake2  # noqa: F401 (fixtures)

# retries fast enough for tests; a status answer is due within timeout_s
FAST = ("\n[print]\nretry_base_ms = 50\nretry_max_s = 1\nfailover_after = 2\n"
        'header = "老王面馆"\nqr_url = "https://mp.example.com/{store}/o/{number}"\n')
ORDER = {"channel": "pos", "lines": [{"sku": "C001", "qty": 2, "note": "少辣"}], "table": "A3"}


def network(name: str, port: int, **keys_: Any) -> str:
    """A ``[printers.<name>]`` table of a network printer on 127.0.0.1:``port``."""
    table = {"type": "network", "address": f"127.0.0.1:{port}", "timeout_s": 0.5, **keys_}
    return f"\n[printers.{name}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def configure(store_dir: Path, *tables: str) -> Path:
    """Append printer tables (and, once, fast retry settings) to the store's edge.toml."""
    config = store_dir / "edge.toml"
    fast = "" if "[print]" in config.read_text(encoding="utf-8") else FAST
    with config.open("a", encoding="utf-8") as fh:
        fh.write(fast + "".join(tables))
    return store_dir


AppFactory = Callable[..., Coroutine[Any, Any, TestClient]]


@pytest.fixture
async def edge_app(store_dir: Path, aiohttp_client: Any) -> AsyncIterator[AppFactory]:
    """``await edge_app(*printer_tables)``: a running edge app with those printers."""
    clients: list[TestClient] = []

    async def start(*tables: str) -> TestClient:
        configure(store_dir, *tables)
        client = await aiohttp_client(create_app(load_settings(store_dir)))
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    await assert_no_tasks_left()


def coordinator(client: TestClient) -> PrintCoordinator:
    return client.server.app[keys.PRINTING]


async def place(api: Api, key: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, order = await api.post("/api/v1/orders", body or ORDER,
                                   headers={"Idempotency-Key": key})
    assert status == 201, order
    return order


async def cashier(client: TestClient) -> Api:
    return await login_as(client, "cashier")
