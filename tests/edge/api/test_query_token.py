"""``?token=`` is a credential only on the WebSocket, where a browser cannot send a header:
anywhere else a token in the URL ends up in access logs, proxies and browser history."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp.test_utils import TestClient

from tests.conftest import Api, login_as

ORDER = {"channel": "pos", "lines": [{"sku": "C004", "qty": 1}]}


async def test_query_token_is_refused_outside_the_websocket(client: TestClient,
                                                            cashier: Api) -> None:
    technician = await login_as(client, "technician")
    for method, path, token, body in (
        ("GET", "/api/v1/orders", cashier.token, None),
        ("GET", "/api/v1/catalog/items", cashier.token, None),
        ("POST", "/api/v1/orders", cashier.token, ORDER),
        ("GET", "/metrics", technician.token, None),
    ):
        resp = await client.request(method, f"{path}?token={token}", json=body,
                                    headers={"Idempotency-Key": uuid.uuid4().hex})
        answer = await resp.json()
        assert resp.status == 401 and answer["error"] == "unauthorized", (path, answer)
    assert await cashier.get("/api/v1/orders") == (200, [])  # nothing was placed


async def test_the_websocket_takes_the_query_token_and_the_header(client: TestClient,
                                                                  cashier: Api) -> None:
    for ws in (await client.ws_connect(f"/api/v1/events?token={cashier.token}"),
               await client.ws_connect("/api/v1/events",
                                       headers={"Authorization": f"Bearer {cashier.token}"})):
        await ws.send_str("ping")
        assert await asyncio.wait_for(ws.receive_json(), 5) == {"type": "pong"}
        await ws.close()
    resp = await client.get("/api/v1/events?token=forged.token")
    assert resp.status == 401
