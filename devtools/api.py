"""An HTTP API client logged in as one role, over aiohttp's test client."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


class Api:
    """A client logged in as one role: ``await api.post(path, body)`` -> (status, json)."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.token = client, token

    async def call(self, method: str, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"headers": hdrs}
        if body is not None:
            kwargs["json"] = body
        resp = await self.client.request(method, path, **kwargs)
        data = await resp.json(content_type=None) if resp.status != 204 else None
        return resp.status, data

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.call("GET", path)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.call("POST", path, body, **kw)
