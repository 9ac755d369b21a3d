"""Earning rules at HQ on both backends (cloud/members/loyalty.py): an HQ that sent rules to every
store before it kept the rules document keeps those rates when one store's entry is set."""

from __future__ import annotations

from typing import Any

from cloud.database import CloudDb
from cloud.feed import fanout
from cloud.feed.changes import append_to_stores
from tests.cloud.sync.conftest import db, db_url  # noqa: F401  (both backends)


def rules_sent(cloud: CloudDb, store: str) -> list[dict[str, Any]]:
    return [c["data"] for c in cloud.changes_since(store, 0, limit=1000).changes
            if c["type"] == "loyalty.rules"]


def test_rules_sent_before_the_document_was_kept_are_its_base(db: CloudDb) -> None:  # noqa: F811
    db.add_store("s2", "acme")
    old = {"default": 2, "channels": {"mini_program": 3}}
    with db._db.write():  # what PUT /api/v1/loyalty/rules did before: no document kept
        append_to_stores(db._db, None, "loyalty.rules", "rules", old)
    fanout.drain(db._db)  # a change to every store is queued, then drained in chunks
    assert db.loyalty_rules() == {**old, "stores": {}}
    db.put_store_loyalty_rule("s2", {"multiplier": 2})
    assert rules_sent(db, "s2")[-1] == {**old, "stores": {"s2": {"multiplier": 2}}}
    assert rules_sent(db, "s1") == [old]
    assert db.loyalty_rules() == {**old, "stores": {"s2": {"multiplier": 2}}}


def test_a_store_entry_before_any_rules_earns_only_its_own_rates(db: CloudDb) -> None:  # noqa: F811
    assert db.loyalty_rules() is None
    db.put_store_loyalty_rule("s1", {"channels": {"pos": 1}})
    assert rules_sent(db, "s1") == [{"default": 0, "channels": {},
                                     "stores": {"s1": {"channels": {"pos": 1}}}}]
