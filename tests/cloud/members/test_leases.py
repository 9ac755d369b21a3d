"""Leases (offline allowance) at HQ, on both backends: fair shares between stores, shrinks
that count only once the store acknowledged them, offline stores left alone, settlement
after a reconnect, and overspend conflicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloud.config import (
    CONFIG_FILE,
    ConfigError,
    ensure_data_dir,
    load_settings,
    render_config,
)
from cloud.database import CloudDb
from cloud.members.leases import LeasePolicy
from sync import messages

from .conftest import MemberSim, feed, online

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"
PHONE = "+8613800138000"


def leases(hq: CloudDb) -> dict[str, dict[str, Any]]:
    """The member's leases that still count, by store."""
    return {x["store"]: x for x in hq.member_detail(A)["leases"]}  # type: ignore[index]


def remaining(hq: CloudDb) -> dict[str, int]:
    return {s: x["remaining_points"] for s, x in leases(hq).items()}


def counted(hq: CloudDb) -> dict[str, int]:
    return {s: x["counted_points"] for s, x in leases(hq).items()}


def history(hq: CloudDb, kind: str) -> list[dict[str, Any]]:
    return [x for x in hq.member_detail(A)["lease_history"]  # type: ignore[index]
            if x["kind"] == kind]


def last_change(hq: CloudDb, store: str) -> dict[str, Any]:
    changes = feed(hq, store, "lease.granted") + feed(hq, store, "lease.revoked")
    return max(changes, key=lambda c: c["cursor"])["data"]  # type: ignore[no-any-return]


def ack(sim: MemberSim, change: dict[str, Any]) -> None:
    """What the edge writes when it applies a change that asks for an ack."""
    assert change["ack"] is True
    sim.emit("lease.acked", {"lease_id": change["lease_id"], "rev": change["rev"]})


def lookup(hq: CloudDb, sim: MemberSim) -> None:
    sim.emit("member.lookup", {"member": A})
    sim.send(hq)


def start(hq: CloudDb, sims: dict[str, MemberSim], points: int, stores: tuple[str, ...],
          **policy: int) -> None:
    """Lease ``policy`` (default: LeasePolicy's), the member with ``points``, ``stores`` online."""
    hq.set_lease_policy(LeasePolicy(**policy))
    sims["s1"].created(A, PHONE)
    sims["s1"].entry(A, points)
    sims["s1"].send(hq)
    online(hq, *stores)


def birth(hq: CloudDb, store: str, bd_seq: int, outbox_seq: int = 0) -> None:
    assert hq.record_state("acme", store, messages.encode(
        messages.birth(bd_seq, 0, "1.0.0", outbox_seq))).accepted


def death(hq: CloudDb, store: str, bd_seq: int) -> None:
    assert hq.record_state("acme", store, messages.encode(messages.death(bd_seq))).accepted


def test_three_stores_looking_a_member_up_each_get_a_share(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 600, ("s1", "s2", "s3"))
    lookup(hq, sims["s1"])  # alone: at most half the balance (lease_share_pct = 50)
    assert remaining(hq) == {"s1": 300}
    lookup(hq, sims["s2"])  # the other half is free
    assert remaining(hq) == {"s1": 300, "s2": 300}
    lookup(hq, sims["s3"])  # nothing free: s1 and s2 are asked to come down to 600 / 3
    assert remaining(hq) == {"s1": 200, "s2": 200, "s3": 0}
    assert counted(hq) == {"s1": 300, "s2": 300, "s3": 0}  # not acknowledged yet
    shrinks = {s: last_change(hq, s) for s in ("s1", "s2")}
    assert all((c["points"], c["rev"], c["ack"]) == (200, 2, True) for c in shrinks.values())
    ack(sims["s1"], shrinks["s1"])
    sims["s1"].send(hq)
    assert counted(hq) == {"s1": 200, "s2": 300, "s3": 100}  # s1's 100 went to s3
    ack(sims["s2"], shrinks["s2"])
    sims["s2"].send(hq)
    assert counted(hq) == remaining(hq) == {"s1": 200, "s2": 200, "s3": 200}
    assert [c["data"]["points"] for c in feed(hq, "s3", "lease.granted")] == [0, 100, 200]
    lookup(hq, sims["s3"])  # at its share: nothing changes
    assert len(feed(hq, "s3", "lease.granted")) == 3
    kinds = [x["kind"] for x in hq.member_detail(A)["lease_history"]]  # type: ignore[index]
    assert kinds.count("shrunk") == 2 and kinds.count("acked") == 2


def test_a_shrink_counts_only_once_acked_and_spends_before_the_ack_are_kept(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 600, ("s1", "s2"), lease_share_pct=100, per_txn_points=400)
    lookup(hq, sims["s1"])
    first = last_change(hq, "s1")
    assert (first["points"], first["per_txn_points"], first["rev"]) == (600, 400, 1)
    lookup(hq, sims["s2"])
    shrink = last_change(hq, "s1")
    assert (shrink["lease_id"], shrink["points"], shrink["ack"]) == (first["lease_id"], 300, True)
    assert counted(hq) == {"s1": 600, "s2": 0}
    lookup(hq, sims["s2"])  # asking again frees nothing while s1 has not acknowledged
    assert counted(hq) == {"s1": 600, "s2": 0}
    assert [c["data"]["points"] for c in feed(hq, "s2", "lease.granted")] == [0]
    assert sum(counted(hq).values()) <= 600
    # s1 spent 500 under the old amount before it applied the shrink: the ack comes after
    sims["s1"].entry(A, -500, "redeem", lease_id=first["lease_id"])
    ack(sims["s1"], shrink)
    sims["s1"].send(hq)
    # 600 - 500 spent: only 100 is free, not the 300 the shrink left; halved between them
    assert counted(hq) == {"s1": 50, "s2": 50}
    assert last_change(hq, "s1")["points"] == 500 + 50  # the total, the 500 spent included
    assert hq.member_detail(A)["balances"]["points"] == 100  # type: ignore[index]
    assert hq.conflicts() == []


def test_an_offline_stores_lease_is_never_shrunk_until_it_is_back_and_settled(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 600, ("s1", "s2"), lease_share_pct=100)
    lookup(hq, sims["s1"])
    lease = last_change(hq, "s1")
    death(hq, "s1", 1)
    lookup(hq, sims["s2"])
    lookup(hq, sims["s2"])
    assert last_change(hq, "s1") == lease  # no shrink sent to an offline store
    assert counted(hq) == {"s1": 600, "s2": 0}
    # offline, s1 spends 100 against its lease; back online its events come in
    sims["s1"].entry(A, -100, "redeem", lease_id=lease["lease_id"])
    birth(hq, "s1", 2, outbox_seq=len(sims["s1"].events))
    assert history(hq, "settled") == []  # its events are not applied yet
    sims["s1"].send(hq)
    (settled,) = history(hq, "settled")
    assert settled["store"] == "s1" and settled["lease_id"] == lease["lease_id"]
    assert settled["detail"]["used_points"] == 100
    assert settled["detail"]["remaining_points"] == 500
    assert settled["detail"]["balance_points"] == 500
    assert settled["detail"]["overspent_points"] == 0
    assert settled["detail"]["action"] == "shrunk"  # to its share, 500 / 2
    shrink = last_change(hq, "s1")
    assert (shrink["points"], shrink["ack"]) == (100 + 250, True)
    assert counted(hq) == {"s1": 500, "s2": 0}
    ack(sims["s1"], shrink)
    sims["s1"].send(hq)
    assert counted(hq) == {"s1": 250, "s2": 250}
    assert len(history(hq, "settled")) == 1  # the ack's batch settles nothing again


def test_a_revoke_counts_until_acked(hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 600, ("s1",))
    lookup(hq, sims["s1"])
    lease = last_change(hq, "s1")
    death(hq, "s1", 1)
    # offline, s1 spends all of its lease; HQ takes the rest back meanwhile
    sims["s1"].entry(A, -300, "redeem", lease_id=lease["lease_id"])
    hq.post_ledger(A, {"account": "points", "kind": "adjust", "amount": -500}, "adj-1")
    birth(hq, "s1", 2, outbox_seq=len(sims["s1"].events))
    sims["s1"].send(hq)
    (conflict,) = hq.conflicts()
    assert conflict["kind"] == "overspend" and conflict["detail"]["balance"] == -200
    (settled,) = history(hq, "settled")
    assert settled["detail"]["overspent_points"] == 200
    assert settled["detail"]["action"] == "revoked"
    revoke = last_change(hq, "s1")
    assert revoke == {"lease_id": lease["lease_id"], "rev": 2, "ack": True}
    ack(sims["s1"], revoke)
    sims["s1"].send(hq)
    assert leases(hq) == {}


def test_two_partitioned_stores_spending_past_the_balance_is_an_overspend_conflict(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 1000, ("s1", "s2"), lease_points=600, lease_share_pct=100)
    granted = {}
    for store in ("s1", "s2"):
        lookup(hq, sims[store])
        granted[store] = feed(hq, store, "lease.granted")[0]["data"]
    assert {s: g["points"] for s, g in granted.items()} == {"s1": 600, "s2": 400}
    # HQ takes 500 back while both stores are cut off; each spends its whole lease
    replayed, entry, _ = hq.post_ledger(A, {"account": "points", "kind": "adjust",
                                            "amount": -500}, "adjust-0001")
    assert not replayed and entry["amount"] == -500
    for store, amount in (("s1", -600), ("s2", -400)):
        sims[store].entry(A, amount, "redeem", lease_id=granted[store]["lease_id"])
    sims["s1"].send(hq)
    assert [c["kind"] for c in hq.conflicts()] == ["overspend"]  # 1000 - 500 - 600 = -100
    sims["s2"].send(hq)
    last = hq.conflicts()[-1]
    assert last["kind"] == "overspend" and last["store"] == "s2"
    assert (last["detail"]["balance"], last["detail"]["amount"]) == (-500, -400)
    assert last["detail"]["member"] == A and last["detail"]["account"] == "points"
    # the total overspent is bounded by the leases outstanding during the partition
    assert -last["detail"]["balance"] <= sum(g["points"] for g in granted.values())


def test_a_zero_balance_gets_no_lease_and_an_ack_of_someone_elses_lease_is_refused(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 0, ("s1", "s2"))
    lookup(hq, sims["s1"])
    assert leases(hq) == {} and feed(hq, "s1", "lease.granted") == []
    sims["s1"].entry(A, 100)
    lookup(hq, sims["s1"])
    lease = last_change(hq, "s1")
    sims["s2"].emit("lease.acked", {"lease_id": lease["lease_id"], "rev": 1})
    sims["s2"].send(hq)
    (conflict,) = hq.conflicts()
    assert conflict["kind"] == "invalid_event" and conflict["store"] == "s2"
    assert counted(hq) == {"s1": 50}


def test_the_share_is_a_setting_with_a_sensible_default_and_range(tmp_path: Path) -> None:
    ensure_data_dir(tmp_path)
    (tmp_path / CONFIG_FILE).write_text(render_config(), encoding="utf-8")
    assert LeasePolicy(**load_settings(tmp_path, env={}).members) == LeasePolicy()
    assert LeasePolicy().lease_share_pct == 50
    env = {"STORENODE_CLOUD_MEMBERS_LEASE_SHARE_PCT": "100"}
    assert LeasePolicy(**load_settings(tmp_path, env=env).members).lease_share_pct == 100
    with pytest.raises(ConfigError, match="members.lease_share_pct"):
        load_settings(tmp_path, env={"STORENODE_CLOUD_MEMBERS_LEASE_SHARE_PCT": "0"})


def test_a_settlement_at_a_birth_shrinks_an_online_store_and_says_which_feeds_grew(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 1000, ("s1", "s2"), lease_points=600, lease_share_pct=100)
    lookup(hq, sims["s1"])
    lookup(hq, sims["s2"])  # 500 each once s1 acknowledged its shrink from 600
    ack(sims["s1"], last_change(hq, "s1"))
    sims["s1"].send(hq)
    assert counted(hq) == {"s1": 500, "s2": 500}
    death(hq, "s1", 1)
    sims["s1"].entry(A, -300, "redeem", lease_id=last_change(hq, "s1")["lease_id"])
    # a connection that dies before its catch-up is done, then one stating no more events:
    # the lease spent against meanwhile is settled at that birth
    birth(hq, "s1", 2, outbox_seq=len(sims["s1"].events) + 5)
    sims["s1"].send(hq)
    assert history(hq, "settled") == []
    s2_before = feed(hq, "s2")[-1]["cursor"]
    result = hq.record_state("acme", "s1", messages.encode(
        messages.birth(3, 0, "1.0.0", len(sims["s1"].events))))
    (settled,) = history(hq, "settled")
    assert (settled["store"], settled["detail"]["used_points"]) == ("s1", 300)
    assert settled["detail"]["action"] == "kept"  # short of its 350: s2 must give 150 first
    shrink = last_change(hq, "s2")
    assert (shrink["points"], shrink["ack"]) == (350, True)
    assert result.feed["s2"] == s2_before + 1  # the cursor to push to s2
    assert counted(hq) == {"s1": 200, "s2": 500}
    ack(sims["s2"], shrink)
    sims["s2"].send(hq)
    assert counted(hq) == {"s1": 350, "s2": 350}


def test_an_hq_debit_shrinks_online_leases_and_a_credit_tops_them_up(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    start(hq, sims, 600, ("s1", "s2"))
    lookup(hq, sims["s1"])
    lookup(hq, sims["s2"])
    assert counted(hq) == {"s1": 300, "s2": 300}
    hq.post_ledger(A, {"account": "points", "kind": "adjust", "amount": -400}, "adj-1")
    assert remaining(hq) == {"s1": 100, "s2": 100}  # 200 left: halved, once acknowledged
    assert counted(hq) == {"s1": 300, "s2": 300}
    for store in ("s1", "s2"):
        ack(sims[store], last_change(hq, store))
        sims[store].send(hq)
    assert counted(hq) == {"s1": 100, "s2": 100}
    death(hq, "s2", 1)
    hq.post_ledger(A, {"account": "points", "kind": "adjust", "amount": 1000}, "adj-2")
    # 1200: s1 grows to its share at once; offline s2 is left as it was
    assert counted(hq) == {"s1": 600, "s2": 100}
