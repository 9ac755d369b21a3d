"""Exactly-once apply of upstream batches, and the projections, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.feed.changes import ADJUST_PARTS
from cloud.feed.results import Ack
from cloud.sync import forward
from common.vocabulary import MAX_STOCK_MOVE, OLD_BOX
from sync import messages
from sync.changes import check_change

from .sim import EdgeSim


def applied_seq(db: CloudDb, store: str = "s1") -> int:
    info = db.get_store(store)
    assert info is not None
    return int(info["applied_seq"])


def stock(db: CloudDb, store: str = "s1") -> dict[str, int]:
    return {row["sku"]: row["on_hand"] for row in db.store_inventory(store)}


def sim_with(n: int) -> EdgeSim:
    sim = EdgeSim("s1")
    sim.fill(n)
    return sim


def test_in_order_batches_apply_every_event_once(db: CloudDb) -> None:
    sim = sim_with(120)
    acks = [db.apply_batch("acme", "s1", p) for p in sim.payloads(25)]
    assert [a.kind for a in acks] == ["applied"] * len(acks)
    assert sum(a.events_applied for a in acks) == len(sim.events) == applied_seq(db)
    assert acks[-1].message() == {"applied_seq": len(sim.events), "epoch": 1}
    assert db.store_events_count("s1") == len(sim.events)
    assert stock(db) == sim.expected_stock
    assert db.order_count_by_store() == {"s1": sim.orders}


def test_duplicate_batch_is_acked_with_the_applied_seq_and_changes_nothing(db: CloudDb) -> None:
    sim = sim_with(30)
    first, second = sim.payload(1, 10), sim.payload(11, 30)
    db.apply_batch("acme", "s1", first)
    db.apply_batch("acme", "s1", second)
    again = db.apply_batch("acme", "s1", first)
    assert again == Ack("duplicate", applied_seq=30)
    assert again.message() == {"applied_seq": 30, "epoch": 1}
    assert db.apply_batch("acme", "s1", second).kind == "duplicate"
    assert db.store_events_count("s1") == 30 and stock(db) == sim.expected_stock


def test_overlapping_batch_applies_only_the_new_events(db: CloudDb) -> None:
    sim = sim_with(40)
    db.apply_batch("acme", "s1", sim.payload(1, 20))
    ack = db.apply_batch("acme", "s1", sim.payload(11, 40))  # 11..20 already applied
    assert ack == Ack("applied", applied_seq=40, events_applied=20)
    assert db.store_events_count("s1") == 40 and stock(db) == sim.expected_stock


def test_gap_asks_to_resend_from_the_first_missing_seq(db: CloudDb) -> None:
    sim = sim_with(30)
    db.apply_batch("acme", "s1", sim.payload(1, 10))
    ack = db.apply_batch("acme", "s1", sim.payload(21, 30))
    assert ack == Ack("gap", applied_seq=10, resend_from=11)
    assert ack.message() == {"resend_from": 11, "applied_seq": 10, "epoch": 1}
    assert db.store_events_count("s1") == 10 and applied_seq(db) == 10


def test_reordered_batches_converge_after_the_resends(db: CloudDb) -> None:
    sim = sim_with(100)
    payloads = sim.payloads(10)
    pending = list(reversed(payloads))
    for _ in range(len(payloads) * 2):  # an edge resending what is not acked
        pending = [p for p in pending if db.apply_batch("acme", "s1", p).kind == "gap"]
        if not pending:
            break
    assert not pending
    assert applied_seq(db) == 100 and db.store_events_count("s1") == 100
    assert stock(db) == sim.expected_stock


def test_stock_is_the_sum_of_deltas(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    sim.move("C001", 100)
    sim.order(qty=2)            # C001 -2, C002 -3, S001 -4
    sim.move("C001", -5, "waste")
    sim.move("S001", 7, "stocktake")
    db.apply_batch("acme", "s1", sim.payload(1, 2))
    db.apply_batch("acme", "s1", sim.payload(3, 4))
    assert stock(db) == {"C001": 93, "C002": -3, "S001": 3} == sim.expected_stock


@pytest.mark.parametrize("mangle", [
    lambda p: p[: len(p) // 2],                          # truncated
    lambda p: b"\xff\xfe not json",
    lambda p: b"[1, 2, 3]",
    lambda p: p.replace(b'"v":1', b'"v":2', 1),          # unknown version
    lambda p: p.replace(b'"first_seq":1', b'"first_seq":2', 1),  # seqs do not match
    lambda p: p.replace(b'"seq":2', b'"seq":3', 1),      # not contiguous
    lambda p: p.replace(b'"type":"order.placed"', b'"type":7', 1),
])
def test_malformed_payloads_are_rejected_without_effect(db: CloudDb, mangle: Any) -> None:
    sim = sim_with(5)
    ack = db.apply_batch("acme", "s1", mangle(sim.payload(1, 5)))
    assert ack.kind == "rejected" and ack.reason and ack.message() is None
    assert applied_seq(db) == 0 and db.store_events_count("s1") == 0


def test_wrong_store_unknown_store_and_tenant_mismatch_are_rejected(db: CloudDb) -> None:
    db.add_store("s2", "acme")
    db.add_store("s3", "other")
    s2 = EdgeSim("s2")
    s2.fill(3)
    payload = s2.payload(1, 3)
    assert db.apply_batch("acme", "s1", payload).reason == "invalid batch: batch store differs from the topic"
    forged = json.loads(payload)
    forged["store"] = "s1"  # envelope claims s1, events still say s2
    assert db.apply_batch("acme", "s1", messages.encode(forged)).kind == "rejected"
    s9 = EdgeSim("s9")
    s9.fill(3)
    assert db.apply_batch("acme", "s9", s9.payload(1, 3)).reason == "unknown store"
    s3 = EdgeSim("s3")
    s3.fill(3)
    assert db.apply_batch("acme", "s3", s3.payload(1, 3)).reason == "tenant mismatch"
    assert db.apply_batch("other", "s2", payload).reason == "tenant mismatch"
    assert [s["applied_seq"] for s in db.list_stores()] == [0, 0, 0]


def test_an_event_id_stored_under_another_seq_rejects_the_batch(db: CloudDb) -> None:
    sim = sim_with(4)
    db.apply_batch("acme", "s1", sim.payload(1, 2))
    sim.events[2]["event_id"] = sim.events[0]["event_id"]
    ack = db.apply_batch("acme", "s1", sim.payload(3, 4))
    assert ack.kind == "rejected" and "cannot store" in (ack.reason or "")
    assert applied_seq(db) == 2 and db.store_events_count("s1") == 2


def test_values_a_column_cannot_hold_reject_the_batch(db: CloudDb) -> None:
    sim = sim_with(2)
    sim.events[0]["v"] = 1 << 70
    assert db.apply_batch("acme", "s1", sim.payload(1, 2)).kind == "rejected"
    assert applied_seq(db) == 0


def test_event_data_is_stored_as_strict_json(db: CloudDb) -> None:
    """NaN and the infinities (which only the stdlib reader lets through) are stored as null,
    an integer past 64 bits exactly: events.data is JSON every database function, archive
    file and warehouse loader reads (docs/sync-protocol.md, "Cloud apply")."""
    sim = EdgeSim("s1")
    sim.emit("note.x", {"a": float("nan"), "b": [float("inf")], "big": 1 << 70, "s": "é\u2028"})
    sim.emit("note.y", {"z": 1, "a": "中"})
    assert db.apply_batch("acme", "s1", messages.encode(
        messages.up_batch("s1", sim.events))).kind == "applied"
    stored = [json.loads(e["data"], parse_constant=lambda name: pytest.fail(name))
              if isinstance(e["data"], str) else e["data"]
              for e in sorted(db.store_events("s1", limit=10), key=lambda e: e["seq"])]
    assert stored == [{"a": None, "b": [None], "big": 1 << 70, "s": "é\u2028"},
                      {"z": 1, "a": "中"}]
    assert list(stored[1]) == ["z", "a"]  # the sender's key order


def test_orders_are_projected_with_lines_and_latest_status(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    first = sim.order(status_changes=4)      # placed and completed in the same batch
    second = sim.order(qty=2)
    db.apply_batch("acme", "s1", sim.payload(1, len(sim.events)))
    order = dict(sim.events[-1]["data"]["order"], status="accepted", updated_at="2026-11-23T09:00:00.000Z")
    sim.emit("order.status_changed", {"order": order, "from": "placed", "to": "accepted"})
    db.apply_batch("acme", "s1", sim.payload(len(sim.events), len(sim.events)))
    orders = {o["id"]: o for o in db.store_orders("s1")}
    assert orders[first]["status"] == "completed"
    assert orders[second]["status"] == "accepted"
    assert orders[second]["updated_at"] == "2026-11-23T09:00:00.000Z"
    placed = sim.events[5]["data"]["order"]
    assert {k: orders[second][k] for k in placed} == {**placed, "status": "accepted",
                                                       "updated_at": "2026-11-23T09:00:00.000Z"}
    assert [ln["qty"] for ln in orders[second]["lines"]] == [2, 3, 4]
    assert db.store_orders("s1", since="2026-11-23T02:00:05.000Z") == [orders[second]]
    assert len(db.store_orders("s1", limit=1)) == 1


def test_catalog_quotas_alerts_and_unknown_types(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    item = {"sku": "N001", "name": "Noodles", "price_cents": 1800, "available": True,
            "track_stock": True}
    sim.emit("catalog.item_changed", {"item": item})
    sim.emit("catalog.item_changed", {"item": {**item, "price_cents": 1900}})
    sim.emit("inventory.quotas_changed", {"sku": "N001", "quotas": {"meituan": 20}})
    sim.emit("stock.low", {"sku": "N001", "on_hand": 1, "safety_stock": 5})
    sim.emit("member.joined", {"member": "m1"})  # a type from a newer edge: stored only
    ack = db.apply_batch("acme", "s1", sim.payload(1, 5))
    assert ack.events_applied == 5
    assert db.store_items("s1") == [{**item, "price_cents": 1900}]
    assert db.store_quotas("s1") == {"N001": {"meituan": 20}}
    assert [(a["seq"], a["sku"], a["on_hand"]) for a in db.stock_alerts("s1")] == [(4, "N001", 1)]
    assert stock(db) == {"N001": 0}
    assert [e["type"] for e in db.store_events("s1")][-1] == "member.joined"
    assert db.conflicts() == []


def test_order_paid_and_refunded_are_stored_without_a_conflict(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    sim.emit("order.paid", {"order_id": "o1", "number": 1, "total_cents": 2800,
                            "paid_cents": 3000, "change_cents": 200,
                            "tenders": [{"kind": "cash", "amount_cents": 3000}], "at": "x"})
    sim.emit("order.refunded", {"order_id": "o1", "number": 1, "reason": "cold",
                                "restock": True, "paid_cents": 3000, "change_cents": 200,
                                "entries": [], "stock": [{"sku": "C001", "on_hand": 5}],
                                "at": "x"})
    sim.emit("stock.moved", {"sku": "C001", "delta": 1, "reason": "refund", "ref": "o1",
                             "on_hand": 5})
    ack = db.apply_batch("acme", "s1", sim.payload(1, 3))
    assert ack.events_applied == 3
    assert [e["type"] for e in db.store_events("s1")][-3:] == [
        "order.paid", "order.refunded", "stock.moved"]
    assert stock(db) == {"C001": 1}
    assert db.conflicts() == []


def test_an_event_that_cannot_be_projected_is_kept_and_becomes_a_conflict(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    sim.emit("order.placed", {"order": {"id": 42}})
    sim.emit("stock.moved", {"sku": "C001", "delta": "ten"})
    sim.move("C001", 3)
    ack = db.apply_batch("acme", "s1", sim.payload(1, 3))
    assert ack == Ack("applied", applied_seq=3, events_applied=3)
    conflicts = db.conflicts()
    assert [(c["store"], c["kind"], c["detail"]["seq"]) for c in conflicts] == [
        ("s1", "invalid_event", 1), ("s1", "invalid_event", 2)]
    assert stock(db) == {"C001": 3}
    assert db.resolve_conflict(conflicts[0]["id"]) and len(db.conflicts(resolved=False)) == 1


@pytest.mark.parametrize(("field", "value"), [
    ("qty", True), ("qty", 2.0), ("total_cents", 2**63), ("unit_cents", -(2**63) - 1),
    ("line_no", "2"), ("sku", 7), ("name", ["x"]),
    # INTEGER columns: PostgreSQL refused these, and with them the whole batch
    ("qty", 2**31), ("line_no", -(2**31) - 1), ("number", 2**31)])
def test_a_line_field_of_the_wrong_type_or_range_makes_a_conflict(
        db: CloudDb, field: str, value: Any) -> None:
    """A bool is not an integer, nor a float; integers past 64 bits are out of range (the
    parser reads 2**63 as an integer, -2**63 - 1 as a float): the order becomes a conflict,
    the events of the batch are all stored, the next order is projected."""
    sim = EdgeSim("s1")
    sim.order()
    bad = sim.events[-1]["data"]["order"]
    (bad if field == "number" else bad["lines"][1])[field] = value
    good = sim.order()
    ack = db.apply_batch("acme", "s1", sim.payload(1, 2))
    assert ack == Ack("applied", applied_seq=2, events_applied=2)
    assert [(c["kind"], c["detail"]["seq"]) for c in db.conflicts()] == [("invalid_event", 1)]
    assert [o["id"] for o in db.store_orders("s1")] == [good]


def test_line_amounts_at_the_ends_of_64_bits_are_projected(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    order_id = sim.order()
    lines = sim.events[-1]["data"]["order"]["lines"]
    lines[0]["total_cents"], lines[1]["unit_cents"] = 2**63 - 1, -(2**63)
    lines[2]["qty"], lines[2]["line_no"] = 2**31 - 1, -(2**31)
    sim.events[-1]["data"]["order"]["number"] = 2**31 - 1
    assert db.apply_batch("acme", "s1", sim.payload(1, 1)).kind == "applied"
    assert db.conflicts() == []
    [order] = db.store_orders("s1")
    assert order["id"] == order_id and order["number"] == 2**31 - 1
    by_no = {ln["line_no"]: ln for ln in order["lines"]}
    assert (by_no[1]["total_cents"], by_no[2]["unit_cents"]) == (2**63 - 1, -(2**63))
    assert by_no[-(2**31)]["qty"] == 2**31 - 1


def test_a_stock_sum_past_64_bits_in_a_batch_makes_the_event_a_conflict(db: CloudDb) -> None:
    """Each delta fits in 64 bits, their sum in the batch does not: the event that would
    pass it is a conflict and moves nothing (an order with it is not placed), the rest of the
    batch is applied; before, PostgreSQL refused the sum, and with it the whole batch."""
    sim = EdgeSim("s1")
    sim.move("C001", 2**63 - 1)
    sim.move("C001", 1)  # past the top
    sim.move("C002", -(2**63))
    order_id = sim.order()  # its deltas: C001 -1 (would fit), C002 -2 (past the bottom)
    sim.move("C001", -7)
    sim.move("C002", 5)
    ack = db.apply_batch("acme", "s1", sim.payload(1, 6))
    assert ack == Ack("applied", applied_seq=6, events_applied=6)
    assert [(c["kind"], c["detail"]["seq"], c["detail"]["error"]) for c in db.conflicts()] == [
        ("invalid_event", 2, "stock of C001 out of range"),
        ("invalid_event", 4, "stock of C002 out of range")]
    assert db.store_orders("s1") == [] and order_id
    assert stock(db) == {"C001": 2**63 - 8, "C002": -(2**63) + 5}


def test_a_stock_sum_past_64_bits_at_hq_makes_a_conflict_and_keeps_the_stock(
        db: CloudDb) -> None:
    """HQ's stored sum and a later batch's that together pass 64 bits, either way: the SKU's
    stock stays as it was and a ``stock_overflow`` conflict says by how much the batch would
    have moved it; the batch is applied and acked, its other SKUs moved, and later batches
    move the SKU again."""
    sim = EdgeSim("s1")
    sim.move("C001", 2**63 - 2)
    sim.move("C002", -(2**63) + 1)
    assert db.apply_batch("acme", "s1", sim.payload(1, 2)).kind == "applied"
    sim.move("C001", 1)
    sim.move("C001", 2)  # 3 in the batch: one past the top
    sim.move("C002", -2)
    sim.move("S001", 4)
    ack = db.apply_batch("acme", "s1", sim.payload(3, 6))
    assert ack == Ack("applied", applied_seq=6, events_applied=4)
    conflicts = db.conflicts()
    assert sorted((c["store"], c["kind"], c["detail"]["sku"], c["detail"]["delta"])
                  for c in conflicts) == [("s1", "stock_overflow", "C001", 3),
                                          ("s1", "stock_overflow", "C002", -2)]
    assert stock(db) == {"C001": 2**63 - 2, "C002": -(2**63) + 1, "S001": 4}
    sim.move("C001", 1)
    sim.move("C002", -1)
    assert db.apply_batch("acme", "s1", sim.payload(7, 8)).kind == "applied"
    assert stock(db) == {"C001": 2**63 - 1, "C002": -(2**63), "S001": 4}
    assert len(db.conflicts()) == 2


def test_an_old_box_move_past_one_adjustment_goes_in_parts(db: CloudDb) -> None:
    """What a superseded box moved is sent to the new box as ``stock.adjust`` changes the
    edge takes (each within MAX_STOCK_MOVE, refs of their own); a move past ADJUST_PARTS of
    them is a ``stock_forward_out_of_range`` conflict and sends nothing."""
    backend = db._db
    with backend.write():
        pushed = forward.stock(backend, "s1", "box1:9", {
            "C001": 2 * MAX_STOCK_MOVE + 5, "C002": -3, "C003": 0,
            "S001": -ADJUST_PARTS * MAX_STOCK_MOVE - 1})
    changes = db.changes_since("s1", pushed["s1"] - 1).changes
    assert [(c["data"]["sku"], c["data"]["delta"]) for c in changes] == [
        ("C001", MAX_STOCK_MOVE), ("C001", MAX_STOCK_MOVE), ("C001", 5), ("C002", -3)]
    assert all(check_change(c) is None and c["data"]["reason"] == OLD_BOX for c in changes)
    refs = [c["data"]["ref"] for c in changes]
    assert len(set(refs)) == 4 and refs[1] == refs[0] + ":1" and refs[2] == refs[0] + ":2"
    [conflict] = db.conflicts()
    assert (conflict["kind"], conflict["detail"]) == ("stock_forward_out_of_range", {
        "sku": "S001", "delta": -ADJUST_PARTS * MAX_STOCK_MOVE - 1, "ref": "box1:9"})


def test_list_stores_reports_progress_and_lag(db: CloudDb) -> None:
    [store] = db.list_stores()
    assert store == {"store": "s1", "tenant": "acme", "epoch": 1, "online": False, "last_seen": None,
                     "applied_seq": 0, "lag_s": None, "last_backup_at": None,
                     "backup_age_s": None}
    sim = sim_with(3)
    db.apply_batch("acme", "s1", sim.payload(1, 3))
    [store] = db.list_stores()
    assert store["applied_seq"] == 3 and store["last_seen"] is not None
    assert store["lag_s"] is not None and store["lag_s"] > 0  # the sim's events are old


def test_an_order_placed_again_in_a_later_batch_changes_nothing(db: CloudDb) -> None:
    """An order is placed once: a second order.placed of its id, in another batch, with
    other lines, neither adds nor changes a line (the lines go with the orders the apply
    inserted; before, a line number the first placing did not have was added to it), and
    nothing else of the batch is lost. Grouped with other stores' batches, the same."""
    for grouped in (False, True):
        store = f"again{int(grouped)}"
        db.add_store(store, "acme")
        sim = EdgeSim(store)
        order_id = sim.order()
        first = sim.events[-1]["data"]["order"]
        again = {**first, "total_cents": 1, "lines": [
            {**first["lines"][0], "name": "changed"}, {**first["lines"][0], "line_no": 9}]}
        sim.emit("order.placed", {"order": again})
        sim.order()  # a new order in the same batch as the second placing
        batches = [("acme", store, sim.payload(1, 1)), ("acme", store, sim.payload(2, 3))]
        if grouped:
            other = EdgeSim(f"other{store}")
            db.add_store(other.store, "acme")
            other.order()
            acks, _, together = db.apply_batches(batches[:1] + [
                ("acme", other.store, other.payload(1, 1))] + batches[1:])
            assert together and [a.kind for a in acks] == ["applied"] * 3
        else:
            assert [db.apply_batch(*b).kind for b in batches] == ["applied"] * 2
        orders = {o["id"]: o for o in db.store_orders(store)}
        assert len(orders) == 2 and orders[order_id]["total_cents"] == first["total_cents"]
        assert [(ln["line_no"], ln["name"]) for ln in orders[order_id]["lines"]] == [
            (n, f"Item {sku} with a longer display name")
            for n, sku in enumerate(("C001", "C002", "S001"), 1)]
        assert all(len(o["lines"]) == 3 for o in orders.values())


def test_large_batches_and_repeated_keys_in_one_statement(db: CloudDb) -> None:
    sim = EdgeSim("s1")
    for n in range(1200):  # more rows than one multi-row INSERT takes
        sim.move(f"K{n % 700:03d}", 1)
    order_id = sim.order()
    again = sim.events[-1]["data"]["order"]  # (the same dict: the order's lines repeat too)
    again["lines"].append(dict(again["lines"][0]))  # a repeated line_no is ignored
    sim.emit("order.placed", {"order": again})  # a second order.placed of the same id
    assert db.apply_batch("acme", "s1", sim.payload(1, len(sim.events))).events_applied == 1202
    assert db.store_events_count("s1") == 1202 and stock(db) == sim.expected_stock
    [order] = db.store_orders("s1")
    assert order["id"] == order_id and len(order["lines"]) == 3
