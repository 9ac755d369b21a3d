"""A leaked edge database alone reveals no phone number (docs/members.md, privacy)."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiohttp.test_utils import TestClient

from edge.members import sql as member_store
from tests.conftest import Api

PHONES = ("13912345678", "13698765432", "18600001234")


async def test_database_files_hold_no_raw_phone_number(keyed: TestClient, cashier: Api,
                                                       store_dir: Path) -> None:
    for n, phone in enumerate(PHONES):
        status, created = await cashier.post(
            "/api/v1/members", {"phone": f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
                                "name": f"m{n}"}, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert status == 201, created
        for spelling in (phone, f"0086{phone}", f"%2B86{phone}"):
            status, found = await cashier.get(f"/api/v1/members/lookup?phone={spelling}")
            assert (status, found["id"]) == (200, created["id"])
        status, _ = await cashier.post("/api/v1/orders", {
            "channel": "pos", "lines": [{"sku": "C001", "qty": 1}], "member": created["id"]},
            headers={"Idempotency-Key": uuid.uuid4().hex})
        assert status == 201
    status, miss = await cashier.get("/api/v1/members/lookup?phone=13700000000")  # a miss too
    assert (status, miss["detail"]) == (404, {"kind": "phone", "asked_hq": False})  # no broker
    files = sorted(store_dir.glob("storenode.db*"))
    assert {f.name for f in files} >= {"storenode.db", "storenode.db-wal"}
    raw = b"".join(f.read_bytes() for f in files)
    assert b"5432" in raw  # last4 is kept for display: the search does see the data
    for phone in (*PHONES, "13700000000"):
        for needle in (phone, phone[1:], phone[-8:]):  # and no long run of its digits
            for encoding in ("ascii", "utf-16-le"):
                assert needle.encode(encoding) not in raw, f"{needle} found in the database"
    key = (store_dir / member_store.KEY_FILE).read_bytes()
    assert key.strip() not in raw  # the tenant key is not in the database either
