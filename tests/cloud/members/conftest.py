"""Fixtures of the HQ member tests: a ``CloudDb`` on each backend with three stores of one
tenant (and one store of another), and an edge-like source of member events."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.database import CloudDb
from sync import messages
from tests.cloud.sync.conftest import db_url  # noqa: F401  (both backends)
from tests.cloud.sync.sim import EdgeSim

STORES = ("s1", "s2", "s3")


@pytest.fixture
def hq(db_url: str) -> Iterator[CloudDb]:  # noqa: F811
    cloud = CloudDb.open(db_url)
    for store in STORES:
        cloud.add_store(store, "acme")
    cloud.add_store("x1", "other")
    yield cloud
    cloud.close()


def idhash(key: str, kind: str, value: str) -> str:
    import base64

    return hmac.new(base64.b64decode(key), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


class MemberSim(EdgeSim):
    """A store's outbox of member events; ``send`` applies what is not sent yet."""

    def __init__(self, store: str, key: str) -> None:
        super().__init__(store)
        self.key, self.sent = key, 0
        self.clock = 0

    def hlc(self, at: int | None = None) -> str:
        self.clock += 1
        return f"{1_790_000_000_000 + (self.clock if at is None else at):013d}.00000"

    def created(self, member: str, phone: str | None = None, name: str | None = None,
                **extra: Any) -> None:
        idents = [] if phone is None else [self.phone(phone)]
        body: dict[str, Any] = {"id": member, "origin": self.store, "created_at": self._at(),
                                "hlc": self.hlc(), **extra}
        if name is not None:
            body["name"] = name
        self.emit("member.created", {"member": body, "identities": idents})

    def phone(self, phone: str) -> dict[str, Any]:
        return {"kind": "phone", "idhash": idhash(self.key, "phone", phone),
                "last4": phone[-4:]}

    def entry(self, member: str, amount: int, kind: str = "earn", account: str = "points",
              lease_id: str | None = None, entry_id: str | None = None) -> dict[str, Any]:
        entry = {"entry_id": entry_id or f"E{self.store}{len(self.events) + 1:08d}",
                 "member": member, "account": account, "kind": kind, "amount": amount,
                 "store": self.store, "order_id": None, "lease_id": lease_id,
                 "at": self._at(), "hlc": self.hlc()}
        self.emit("ledger.entry", entry)
        return entry

    def send(self, hq: CloudDb) -> Any:
        if self.sent == len(self.events):
            return None
        ack = hq.apply_batch("acme", self.store, messages.encode(
            messages.up_batch(self.store, self.events[self.sent:])))
        assert ack.kind == "applied", ack
        self.sent = len(self.events)
        return ack


def feed(hq: CloudDb, store: str, type_: str | None = None) -> list[dict[str, Any]]:
    """The changes in ``store``'s feed (of ``type_``)."""
    changes = hq.changes_since(store, 0, limit=100_000).changes
    return [c for c in changes if type_ is None or c["type"] == type_]


@pytest.fixture
def key(hq: CloudDb) -> str:
    return hq.tenant_key("acme")


@pytest.fixture
def sims(key: str) -> dict[str, MemberSim]:
    return {s: MemberSim(s, key) for s in STORES}


def online(hq: CloudDb, *stores: str) -> None:
    for store in stores:
        assert hq.record_state("acme", store, messages.encode(
            messages.birth(1, 0, "1.0.0"))).accepted
