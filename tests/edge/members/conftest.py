"""Helpers for member tests: HQ changes applied through the same path as the down feed."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from edge import keys
from edge.db.outbox import events_after
from edge.members import rules
from edge.syncer import sql as syncdb
from sync.changes import check_change
from sync.hlc import HybridLogicalClock

TENANT_KEY = bytes(range(32))
KEY_CHANGE = {"type": "tenant.key", "data": {"key": base64.b64encode(TENANT_KEY).decode()}}
PHONE = "+8613812345678"
_hlc = HybridLogicalClock()


def hlc() -> str:
    return _hlc.now()


def iso_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def phone_identity(e164: str = PHONE) -> dict[str, Any]:
    return {"kind": "phone", "idhash": rules.idhash(TENANT_KEY, "phone", e164),
            "last4": e164[-4:]}


async def feed(client: TestClient, *changes: dict[str, Any]) -> dict[str, int]:
    """Apply HQ changes as one down message after the store's cursor (validated first, like
    ``EdgeSync`` does)."""
    db = client.app[keys.DB]
    cursor = (await db.read(syncdb.sync_state))["down_cursor"]
    numbered = []
    for n, change in enumerate(changes, start=cursor + 1):
        change = {"cursor": n, **change}
        reason = check_change(change)
        if reason:
            change["invalid"] = reason
        numbered.append(change)
    message = {"from_cursor": cursor, "cursor": cursor + len(changes), "snapshot": False,
               "changes": numbered}
    return await db.write(syncdb.apply_down, message)


async def outbox(client: TestClient, type_: str) -> list[dict[str, Any]]:
    events = await client.app[keys.DB].read(events_after, "x", 0, (type_,), 10_000)
    return [e["data"] for e in events if e["type"] == type_]


@pytest.fixture
async def keyed(client: TestClient) -> TestClient:
    """A store that received the tenant key from HQ."""
    result = await feed(client, KEY_CHANGE)
    assert result["applied"] == 1, result
    return client
