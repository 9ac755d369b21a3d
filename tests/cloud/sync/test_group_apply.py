"""Group commit (docs/sync-protocol.md, "Cloud apply"): several stores' batches applied in
one transaction answer exactly what applying them one by one answers, end in the same
state, and one batch that cannot be stored costs the others nothing; the Ingest groups the
batches that arrive while its database thread is busy."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.sync.ingest import Ingest
from sync import messages, topics

from .apply_worker import Batch, apply_groups
from .sim import EdgeSim
from .test_concurrency import PLANS, in_two_threads, make_sims

STORES = ("s1", "s2", "s3")


def sims() -> dict[str, EdgeSim]:
    found = {}
    for n, store in enumerate(STORES):
        found[store] = EdgeSim(store)
        for i in range(6 + 3 * n):
            found[store].order(qty=1 + i % 3, status_changes=i % 4)
    return found


def state(db: CloudDb) -> dict[str, Any]:
    return {store: {"applied_seq": db.get_store(store)["applied_seq"],  # type: ignore[index]
                    "events": [e["event_id"] for e in db.store_events(store, limit=1000)],
                    "stock": {r["sku"]: r["on_hand"] for r in db.store_inventory(store)}}
            for store in STORES}


def mixed(s: dict[str, EdgeSim]) -> list[Batch]:
    """Batches of three stores in one group: each store twice in a row and again later,
    an overlap, a duplicate, a gap, an unreadable payload and an unknown store."""
    a, b, c = (s[x] for x in STORES)
    return [("acme", "s1", a.payload(1, 5)), ("acme", "s2", b.payload(1, 8)),
            ("acme", "s1", a.payload(6, 9)),            # the same store again: a second wave
            ("acme", "s3", c.payload(4, 9)),             # a gap: s3 has nothing yet
            ("acme", "s1", a.payload(3, 12)),            # overlaps what the group applied
            ("acme", "s2", b.payload(1, 8)),             # a duplicate of this group's batch
            ("acme", "s3", b"{not json"),
            ("acme", "nowhere", c.payload(1, 3)),
            ("other", "s2", b.payload(9, 10)),           # tenant mismatch
            ("acme", "s3", c.payload(1, len(c.events))),
            ("acme", "s2", b.payload(9, len(b.events)))]


def test_a_group_answers_and_ends_as_one_by_one(db_url: str) -> None:
    batches = mixed(sims())
    one = provisioned_three(db_url)
    try:
        alone = [one.apply_batch(*batch) for batch in batches]
        expected = state(one)
        one.close()
        db = provisioned_three(db_url, fresh=True)
        acks, feed, grouped = db.apply_batches(batches)
        assert grouped and feed == {}
        assert acks == alone
        assert [a.kind for a in acks] == ["applied", "applied", "applied", "gap", "applied",
                                          "duplicate", "rejected", "rejected", "rejected",
                                          "applied", "applied"]
        assert state(db) == expected
        assert db.order_count_by_store() == {s: sim.orders for s, sim in sims().items()}
        db.close()
    finally:
        one.close()


def provisioned_three(url: str, fresh: bool = False) -> CloudDb:
    db = CloudDb.open(url)
    if fresh:  # the same database, emptied: the second half of the comparison
        with db._db.write():
            for table in ("events", "order_lines", "orders", "stock"):
                db._db.execute(f"DELETE FROM {table}")
            db._db.execute("UPDATE stores SET applied_seq = 0, last_event_at = NULL")
    else:
        for store in STORES:
            db.add_store(store, "acme")
    return db


def test_a_batch_that_cannot_be_stored_costs_the_others_nothing(
        db: CloudDb, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse_up = messages.parse_up

    def counting(payload: bytes, store: str) -> dict[str, Any]:
        parsed.append(store)
        return parse_up(payload, store)

    monkeypatch.setattr("cloud.sync.apply.messages.parse_up", counting)
    db.add_store("s2", "acme")
    s1, s2 = EdgeSim("s1"), EdgeSim("s2")
    for sim in (s1, s2):
        sim.fill(20)
    clash = messages.up_batch("s2", [{**s2.events[0], "event_id": s1.events[0]["event_id"]}])
    acks, _, grouped = db.apply_batches([("acme", "s1", s1.payload(1, 20)),
                                         ("acme", "s2", messages.encode(clash))])
    assert not grouped  # rolled back, then one by one
    assert [a.kind for a in acks] == ["applied", "rejected"]
    assert "cannot store" in (acks[1].reason or "")
    assert db.store_events_count("s1") == 20 and db.store_events_count("s2") == 0
    assert parsed == ["s1", "s2"]  # the fallback applies what the group parsed, not again
    acks, _, grouped = db.apply_batches([("acme", "s1", s1.payload(1, 20))])
    assert not grouped and acks[0].kind == "duplicate" and parsed == ["s1", "s2", "s1"]


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_two_workers_applying_groups_at_once(db_url: str, plan: str) -> None:
    """Two connections applying groups that hold both stores' batches: the stores are locked
    in store order, so they wait for each other and never deadlock; every event once."""
    s = make_sims()
    outcomes = in_two_threads(db_url, s, PLANS[plan](s),
                              lambda db, todo: apply_groups(db, todo, size=7, timeout=60))
    assert sum(o["groups"] for o in outcomes) > 0


async def deliver_at_once(db: CloudDb, **options: Any
                          ) -> tuple[list[str], dict[str, int]]:
    """Each store's whole batch handed to one ``Ingest(**options)`` at once: the answers'
    kinds and the ingest's counters (every store acked up to its last event)."""
    for store in STORES[1:]:
        db.add_store(store, "acme")
    s = sims()
    acked: list[tuple[str, dict[str, Any]]] = []

    async def publish(topic: str, payload: bytes) -> int:
        acked.append((topics.parse(topic).store, json.loads(payload)))  # type: ignore[union-attr]
        return 0

    ingest = Ingest(db, publish, **options)
    try:
        answers = await asyncio.gather(*(
            ingest.handle(topics.topic("acme", store, "up"),
                          s[store].payload(1, len(s[store].events))) for store in STORES))
    finally:
        await ingest.close()
    assert sorted(acked) == sorted((store, {"v": 1, "applied_seq": len(s[store].events),
                                            "epoch": 1}) for store in STORES)
    return [a.kind for a in answers if a is not None], ingest.counters


async def test_batches_arriving_while_the_database_is_busy_go_as_one_group(db: CloudDb
                                                                            ) -> None:
    kinds, counters = await deliver_at_once(db)
    assert kinds == ["applied"] * 3
    assert (counters["groups"], counters["grouped_batches"]) == (1, 3)


async def test_group_bytes_caps_a_group(db: CloudDb) -> None:
    """``ingest.group_bytes`` (here 1: a batch a transaction) bounds what one commit holds."""
    kinds, counters = await deliver_at_once(db, group_bytes=1)
    assert kinds == ["applied"] * 3
    assert (counters["groups"], counters["batches_applied"]) == (0, 3)
