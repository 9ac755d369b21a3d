"""Two workers (own connections) applying two stores' batches at once, on both backends: the
same phone created at both stores still ends as one member, nothing deadlocks, every merge
reaches every store's feed."""

from __future__ import annotations

import threading
from typing import Any

from cloud.database import CloudDb
from sync import messages

from .conftest import STORES, MemberSim, feed

ROUNDS = 12


def test_two_workers_creating_the_same_phones_at_once_end_with_one_member_each(
        hq: CloudDb, db_url: str, key: str) -> None:
    sims = {s: MemberSim(s, key) for s in ("s1", "s2")}
    for n in range(ROUNDS):
        for i, (store, sim) in enumerate(sims.items()):
            member = f"01J{n:02d}{i}" + "M" * 20
            sim.created(member, f"+86138{n:08d}")
            sim.entry(member, 10)
    workers = [CloudDb.open(db_url) for _ in sims]
    barrier = threading.Barrier(len(workers))
    acks: list[Any] = []
    errors: list[BaseException] = []

    def run(db: CloudDb, sim: MemberSim) -> None:
        try:
            barrier.wait()
            for seq in range(1, len(sim.events) + 1, 2):  # one member (and entry) a batch
                payload = messages.encode(messages.up_batch(sim.store,
                                                            sim.events[seq - 1:seq + 1]))
                acks.append(db.apply_batch("acme", sim.store, payload))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db, sim))
               for db, sim in zip(workers, sims.values(), strict=True)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for db in workers:
            db.close()
    assert not errors and [a.kind for a in acks] == ["applied"] * 2 * ROUNDS
    for n in range(ROUNDS):
        (found,) = hq.find_members(phone_hash=sims["s1"].phone(f"+86138{n:08d}")["idhash"])
        assert found["id"] == f"01J{n:02d}0" + "M" * 20 and found["balances"]["points"] == 20
    for store in STORES:
        assert len(feed(hq, store, "member.merged")) == ROUNDS
    assert hq.conflicts() == []
