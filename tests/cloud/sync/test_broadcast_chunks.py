"""A change to every store (or to a list of stores) is queued and drained in chunks of stores,
one transaction each (cloud/feed/fanout.py): no transaction holds all their rows, a crash
between chunks neither repeats nor loses a change, and each store gets its changes in the order
queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.errors import UnknownStore
from cloud.feed import fanout

STORES = [f"s{n}" for n in range(1, 8)]  # s1 exists (the fixture): six more


def feed(db: CloudDb, store: str) -> list[tuple[str, Any]]:
    """The store's catalog items and ledger entries, in feed order (not its tenant key)."""
    return [(c["type"], c["data"].get("sku") or c["data"].get("entry"))
            for c in db.changes_since(store, 0, limit=1000).changes
            if c["type"] in ("catalog.item", "ledger.entry")]


def locked_per_transaction(db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    lock = fanout.lock_stores

    def counting(backend: Any, stores: list[str] | None) -> list[str]:
        assert stores is not None, "a drain never locks every store at once"
        seen.append(len(stores))
        return lock(backend, stores)
    monkeypatch.setattr(fanout, "lock_stores", counting)
    return seen


def test_a_change_to_every_store_reaches_each_once_in_chunks(
        db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> None:
    for store in STORES[1:]:
        db.add_store(store, "acme")
    monkeypatch.setattr(fanout, "CHUNK", 3)
    monkeypatch.setattr(fanout.drain, "__defaults__", (3,))
    seen = locked_per_transaction(db, monkeypatch)
    cursors = db.put_catalog_item({"sku": "X1", "name": "Noodles", "price_cents": 1800})
    assert seen == [3, 3, 1]  # three transactions, never all seven stores
    assert sorted(cursors) == STORES
    for store in STORES:
        assert feed(db, store)[-1] == ("catalog.item", "X1")
        assert sum(1 for c in feed(db, store) if c == ("catalog.item", "X1")) == 1
    assert fanout.pending(db._db) == 0
    db.add_store("s8", "acme")  # a store added later is sent it too (HQ's catalog)
    assert ("catalog.item", "X1") in feed(db, "s8")


def test_a_crash_between_chunks_neither_repeats_nor_loses_a_change(
        db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> None:
    for store in STORES[1:]:
        db.add_store(store, "acme")
    backend = db._db
    with backend.write():  # queued by HQ operations: a change to all, then one to s5 alone
        fanout.queue(backend, fanout.EVERY_TENANT, "catalog.item", {"sku": "A"}, key="A")
        fanout.queue(backend, "acme", "ledger.entry", {"entry": "e1"}, stores=["s5"])
    append, calls = fanout._append, []

    def crash_on_the_second_chunk(*args: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("HQ died here")
        append(*args)
    monkeypatch.setattr(fanout, "_append", crash_on_the_second_chunk)
    with pytest.raises(ConnectionError):
        fanout.drain(backend, chunk=3)
    got = {s: feed(db, s) for s in STORES}
    assert [s for s in STORES if got[s]] == ["s1", "s2", "s3"]  # the first chunk committed
    monkeypatch.setattr(fanout, "_append", append)
    first = fanout.drain(backend, chunk=3)
    assert sorted(first) == STORES[3:]
    for store in STORES:
        expected = [("catalog.item", "A")] + ([("ledger.entry", "e1")] if store == "s5" else [])
        assert feed(db, store) == expected, store
    assert fanout.pending(backend) == 0


FAR = ("2026-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z")
TEMPLATE = {"template_id": "T1", "kind": "amount_off", "value": 500, "valid_from": FAR[0],
            "valid_to": FAR[1], "exclusive_group": None, "channels": None}
LUNCH = {"skus": ["C004"], "days": [1, 2, 3, 4, 5], "from": "11:00", "to": "13:30",
         "kind": "price", "value": 1200}


def _coupons(db: CloudDb) -> dict[str, int]:
    return db.issue_coupons("T1", [], 2, None, None)[2]


# what each makes, and the change type every store is sent once (twice: coupons, two codes)
MANY: dict[str, tuple[Callable[[CloudDb], dict[str, int]], str, int]] = {
    "catalog item to a list": (lambda db: db.put_catalog_item(
        {"sku": "X1", "name": "Noodles", "price_cents": 1800}, STORES), "catalog.item", 1),
    "quotas to a list": (lambda db: db.put_quotas("X1", {"meituan": 5}, STORES),
                         "inventory.quotas", 1),
    "price rule to a list": (lambda db: db.put_price_rule("lunch", LUNCH, STORES),
                             "price_rule", 1),
    "coupon template to a list": (lambda db: db.put_coupon_template(
        {**TEMPLATE, "stores": STORES}), "coupon.template", 1),
    "coupons to every store": (_coupons, "coupon.issued", 2),
    "loyalty rules with a store's own entry": (lambda db: db.put_loyalty_rules(
        {"default": 1, "channels": {}, "stores": {"s4": {"multiplier": 2}}}),
        "loyalty.rules", 1),
    "recommendation pairs": (lambda db: db.push_reco_pairs(), "reco.pairs", 1),
}


@pytest.mark.parametrize("name", sorted(MANY))
def test_a_change_to_many_stores_is_appended_in_chunks(
        db: CloudDb, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Before, these locked every store they named in the transaction that made them."""
    make, type_, times = MANY[name]
    for store in STORES[1:]:
        db.add_store(store, "acme")
    db.put_coupon_template(TEMPLATE)  # what the coupons are made of
    monkeypatch.setattr(fanout.drain, "__defaults__", (3,))
    seen = locked_per_transaction(db, monkeypatch)
    cursors = make(db)
    assert seen == [3, 3, 1]  # three transactions, never all seven stores
    assert sorted(cursors) == STORES
    for store in STORES:
        got = [c for c in db.changes_since(store, 0, limit=1000).changes if c["type"] == type_]
        assert len(got) == times + (type_ == "coupon.template"), (store, got)
        assert got[-1]["cursor"] >= cursors[store]
    assert fanout.pending(db._db) == 0


def test_loyalty_rules_give_each_store_its_own_version_once(db: CloudDb) -> None:
    for store in STORES[1:]:
        db.add_store(store, "acme")
    db.put_loyalty_rules({"default": 1, "channels": {}, "stores": {"s4": {"multiplier": 2}}})
    for store in STORES:
        sent = [c["data"] for c in db.changes_since(store, 0, limit=1000).changes
                if c["type"] == "loyalty.rules"]
        own = {"stores": {"s4": {"multiplier": 2}}} if store == "s4" else {}
        assert sent == [{"default": 1, "channels": {}, **own}], store


def test_a_list_naming_an_unknown_store_writes_nothing(db: CloudDb) -> None:
    before = feed(db, "s1")
    with pytest.raises(UnknownStore):
        db.put_catalog_item({"sku": "X1", "name": "Noodles", "price_cents": 1800},
                            ["s1", "nowhere"])
    with pytest.raises(UnknownStore):
        db.put_price_rule("lunch", LUNCH, ["s1", "nowhere"])
    assert fanout.pending(db._db) == 0 and feed(db, "s1") == before
    assert db.price_rules() == []
