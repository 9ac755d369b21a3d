"""Presence (birth/death compare-and-set) and the HQ change feed, on both backends."""

from __future__ import annotations

import pytest

from cloud.database import CloudDb
from cloud.errors import StoreExists, UnknownStore, UserExists
from cloud.feed.results import StateResult
from cloud.sync.publisher import down_messages
from sync import messages

from .sim import EdgeSim


def birth(bd_seq: int, cursor: int = 0) -> bytes:
    return messages.encode(messages.birth(bd_seq, cursor, "1.2.3"))


def death(bd_seq: int) -> bytes:
    return messages.encode(messages.death(bd_seq))


def item(sku: str, price: int = 1000) -> dict[str, object]:
    return {"sku": sku, "name": f"Item {sku}", "name_en": None, "category": "mains",
            "station": "kitchen", "price_cents": price, "cost_cents": 400, "channel_prices": {}}


def test_birth_death_and_a_stale_will(db: CloudDb) -> None:
    assert db.record_state("acme", "s1", birth(1, 7)) == StateResult(True, True, 7)
    info = db.get_store("s1")
    assert info is not None and info["online"] and info["version"] == "1.2.3"
    assert db.record_state("acme", "s1", birth(2, 9)) == StateResult(True, True, 9)
    stale = db.record_state("acme", "s1", death(1))  # the Will of the previous connection
    assert not stale.accepted and stale.online and stale.reason == "stale bd_seq"
    assert db.get_store("s1")["online"]  # type: ignore[index]
    assert db.record_state("acme", "s1", death(2)) == StateResult(True, False, None)
    info = db.get_store("s1")
    assert info is not None and not info["online"] and info["bd_seq"] == 2
    assert info["paused_channels"] == ["meituan", "eleme"]
    assert db.record_state("acme", "s1", birth(1)).accepted is False  # older than the death
    assert db.record_state("acme", "s1", birth(3, 9)).replay_from == 9
    assert db.get_store("s1")["paused_channels"] == []  # type: ignore[index]


def test_a_repeated_birth_asks_for_a_replay_again(db: CloudDb) -> None:
    assert db.record_state("acme", "s1", birth(4, 1)).replay_from == 1
    assert db.record_state("acme", "s1", birth(4, 3)).replay_from == 3


def test_invalid_or_foreign_states_are_not_accepted(db: CloudDb) -> None:
    db.add_store("s2", "other")
    assert db.record_state("acme", "s1", b"{oops").reason is not None
    assert db.record_state("acme", "s9", birth(1)).reason == "unknown store"
    assert db.record_state("acme", "s2", birth(1)).reason == "tenant mismatch"
    assert not db.record_state("acme", "s1", messages.encode({"online": True, "bd_seq": 1 << 70,
                                                              "applied_down_cursor": 0})).accepted
    assert not db.get_store("s1")["online"]  # type: ignore[index]


def test_stores_and_users_are_unique(db: CloudDb) -> None:
    with pytest.raises(StoreExists):
        db.add_store("s1", "acme")
    with pytest.raises(ValueError):
        db.add_store("S 1/#", "acme")
    db.add_user("hq", "scrypt$hash", "hq_admin")
    with pytest.raises(UserExists):
        db.add_user("hq", "other", "analyst")
    assert db.get_user("hq") is not None and db.get_user("hq")["role"] == "hq_admin"  # type: ignore[index]
    assert db.get_user("nobody") is None and db.get_store("nobody") is None
    with pytest.raises(UnknownStore):
        db.store_orders("nobody")


def test_cursors_are_gapless_per_store_and_replay_from_any_cursor(db: CloudDb) -> None:
    db.add_store("s2", "acme")  # cursor 1 of every store: the tenant key
    assert db.changes_since("s2", 0).changes[0]["type"] == "tenant.key"
    assert db.put_catalog_item(item("A")) == {"s1": 2, "s2": 2}
    assert db.put_catalog_item(item("B"), ["s2"]) == {"s2": 3}
    assert db.put_quotas("A", {"meituan": 5, "eleme": None}, ["s1", "s2"]) == {"s1": 3, "s2": 4}
    assert db.stocktake("s1", "A", 12) == 4
    feed = db.changes_since("s2", 1)
    assert not feed.snapshot and (feed.from_cursor, feed.cursor) == (1, 4)
    assert [(c["cursor"], c["type"], c["data"]["sku"]) for c in feed.changes] == [
        (2, "catalog.item", "A"), (3, "catalog.item", "B"), (4, "inventory.quotas", "A")]
    feed = db.changes_since("s1", 2)
    assert [c["cursor"] for c in feed.changes] == [3, 4] and feed.from_cursor == 2
    adjust = feed.changes[1]["data"]
    assert adjust == {"sku": "A", "delta": 12, "reason": "stocktake", "ref": adjust["ref"]}
    assert adjust["ref"].startswith("hq-stocktake-4-")  # unique for good: cursors may restart
    assert db.changes_since("s1", 4).changes == []
    with pytest.raises(UnknownStore):
        db.put_catalog_item(item("C"), ["s1", "nope"])
    assert db.changes_since("s1", 0).cursor == 4  # nothing appended by the refused call
    with pytest.raises(UnknownStore):
        db.changes_since("nope", 0)


def test_stocktake_is_a_delta_against_the_clouds_view(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    sim.move("C001", 20)
    sim.order()  # C001 -1
    db.apply_batch("acme", "s1", sim.payload(1, 2))
    cursor = db.stocktake("s1", "C001", 15)
    assert db.changes_since("s1", cursor - 1).changes[0]["data"]["delta"] == 15 - 19


def test_snapshot_when_far_behind_or_pruned_and_for_stores_added_later(db: CloudDb) -> None:
    for n in range(5):
        db.put_catalog_item(item("A", 1000 + n))
    db.put_quotas("A", {"meituan": 3})
    db.put_catalog_item(item("B"), ["s1"])
    db.stocktake("s1", "A", 4)
    assert db.changes_since("s1", 3).snapshot is False  # cursor 1: the tenant key
    feed = db.changes_since("s1", 3, limit=3)  # 6 behind
    assert feed.snapshot and (feed.from_cursor, feed.cursor) == (0, 9)
    assert [(c["type"], c["data"].get("sku"), c["cursor"]) for c in feed.changes] == [
        ("tenant.key", None, 1), ("catalog.item", "A", 6), ("catalog.item", "B", 8),
        ("inventory.quotas", "A", 7), ("stock.adjust", "A", 9)]
    assert feed.changes[1]["data"]["price_cents"] == 1004
    assert db.changes_since("s1", 10).snapshot  # the edge is ahead of the cloud
    # a store added later starts with what HQ sent to every store (not B, not the stocktake)
    db.add_store("s2", "acme")
    late = db.changes_since("s2", 0)
    assert [(c["cursor"], c["type"], c["data"].get("sku")) for c in late.changes] == [
        (1, "tenant.key", None), (2, "catalog.item", "A"), (3, "inventory.quotas", "A")]
    assert late.changes[1]["data"]["price_cents"] == 1004
    assert [i["sku"] for i in db.hq_catalog()] == ["A"]


def test_prune_keeps_what_the_store_has_not_confirmed(db: CloudDb) -> None:
    for n in range(10):
        db.put_catalog_item(item(f"I{n}"))
    assert db.prune_changes(keep=2) == 0  # the store confirmed nothing yet
    db.record_state("acme", "s1", birth(1, 7))
    assert db.prune_changes(keep=2) == 7  # 1..7: confirmed and older than the last 2
    assert db.changes_since("s1", 7).changes[0]["cursor"] == 8
    old = db.changes_since("s1", 6)  # predates what was pruned
    assert old.snapshot and len(old.changes) == 11 and old.cursor == 11  # with the key


def test_down_messages_page_a_feed_and_validate() -> None:
    from cloud.feed.results import Feed

    changes = [{"cursor": c, "type": "catalog.item", "data": {"sku": f"I{c}"}}
               for c in range(4, 9)]
    pages = down_messages(Feed(False, 3, 8, changes), 3, page_size=2)
    assert [(p["from_cursor"], p["cursor"], len(p["changes"])) for p in pages] == [
        (3, 5, 2), (5, 7, 2), (7, 8, 1)]
    for page in pages:
        assert messages.parse_down(messages.encode(page)) == {"v": 1, **page}
    assert down_messages(Feed(False, 8, 8, []), 8) == []
    snap = down_messages(Feed(True, 0, 8, changes), 2, page_size=2)
    assert [(p["snapshot"], p["from_cursor"], p["cursor"]) for p in snap] == [
        (True, 2, 2), (True, 2, 2), (True, 2, 8)]  # from_cursor: what the deltas follow
    # adjustments after the state: a page's cursor covers the deltas it and earlier ones sent
    adjusts = [{"cursor": c, "type": "stock.adjust", "data": {"sku": "A", "delta": 1}}
               for c in (9, 11, 12)]
    snap = down_messages(Feed(True, 0, 12, changes + adjusts), 2, page_size=3)
    assert [(p["cursor"], [c["cursor"] for c in p["changes"]]) for p in snap] == [
        (2, [4, 5, 6]), (9, [7, 8, 9]), (12, [11, 12])]
    snap = down_messages(Feed(True, 0, 12, changes + adjusts), 2, page_size=2)
    assert [p["cursor"] for p in snap] == [2, 2, 9, 12]
    assert down_messages(Feed(True, 0, 0, []), 0) == [
        {"from_cursor": 0, "cursor": 0, "snapshot": True, "changes": []}]
