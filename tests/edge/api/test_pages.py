"""The pages are served by the daemon with every asset local (shop LAN, no internet)."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient


@pytest.mark.parametrize("page", ["/", "/kitchen", "/pickup"])
async def test_page_and_assets_are_served_locally(client: TestClient, page: str) -> None:
    resp = await client.get(page)
    html = await resp.text()
    assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/"), f"external asset {asset}"
        asset_resp = await client.get(asset)
        body = await asset_resp.text()
        assert asset_resp.status == 200, asset
        assert not re.search(r"https?://", body), f"{asset} refers to another host"
    assert not re.search(r"https?://", html)
