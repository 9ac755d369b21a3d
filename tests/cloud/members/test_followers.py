"""The ``followers`` member fan-out on both backends (cloud/members/follow.py): a member's
changes go to the stores that met it, a store that looks a member up or seeks an identity is
sent the member's state, a merge gives each follower what it lacked, and the switch makes
followers of the stores a member was seen at."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cloud.database import CloudDb
from cloud.db.backend import open_backend
from cloud.storage import retention
from common.clock import utc_now

from .conftest import STORES, MemberSim, feed

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"  # created first (ULID order): survives a merge
B = "01JBBBBBBBBBBBBBBBBBBBBBBB"
PHONE = "+8613800138000"
MEMBER_TYPES = ("member.upsert", "member.merged", "ledger.entry")


def member_feed(hq: CloudDb, store: str) -> list[tuple[str, object]]:
    """(type, member or entry id) of the member changes in ``store``'s feed."""
    return [(c["type"], c["data"].get("entry_id") or c["data"].get("into")
             or c["data"]["member"]["id"]) for c in feed(hq, store) if c["type"] in MEMBER_TYPES]


@pytest.fixture
def followers(hq: CloudDb) -> CloudDb:
    assert hq.set_member_fanout("followers") == {"mode": "followers", "was": "tenant",
                                                 "followers_added": 0}
    return hq


def test_member_changes_go_only_to_the_stores_that_follow_the_member(
        followers: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq, s1, s2, s3 = followers, sims["s1"], sims["s2"], sims["s3"]
    s1.created(A, PHONE, name="Li")
    first = s1.entry(A, 100)
    s1.send(hq)
    assert hq.member_followers(A) == ["s1"]
    for store in STORES:  # the origin has it; nobody else follows it yet
        assert member_feed(hq, store) == []
    s2.emit("member.lookup", {"member": A})  # a till of s2 looked it up: s2 follows
    s2.send(hq)
    assert hq.member_followers(A) == ["s1", "s2"]
    assert member_feed(hq, "s2") == [("member.upsert", A), ("ledger.entry", first["entry_id"])]
    (upsert,) = [c["data"] for c in feed(hq, "s2", "member.upsert")]
    assert upsert["member"]["name"] == "Li" and upsert["identities"][0]["last4"] == "8000"
    s2.emit("member.lookup", {"member": A})  # already a follower: nothing sent again
    second = s2.entry(A, 50)
    s2.send(hq)
    assert member_feed(hq, "s1") == [("ledger.entry", second["entry_id"])]
    assert len(member_feed(hq, "s2")) == 2
    _, entry, _ = hq.post_ledger(A, {"account": "points", "kind": "adjust", "amount": 7}, None)
    for store in ("s1", "s2"):  # HQ's own entry: to every follower
        assert member_feed(hq, store)[-1] == ("ledger.entry", entry["entry_id"])
    s1.emit("member.profile_changed", {"member": A, "fields": {"name": "Wang"},
                                       "hlc": s1.hlc()})
    s1.send(hq)
    assert member_feed(hq, "s2")[-1] == ("member.upsert", A)
    assert member_feed(hq, "s1")[-1] == ("ledger.entry", entry["entry_id"])  # not its own
    assert member_feed(hq, "s3") == []
    # a store added later starts with the members it follows: none
    hq.add_store("s4", "acme")
    assert member_feed(hq, "s4") == []


def test_a_sought_identity_brings_the_member_and_its_balances(
        followers: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq, s1, s3 = followers, sims["s1"], sims["s3"]
    s1.created(A, PHONE)
    entries = [s1.entry(A, 100), s1.entry(A, 2000, "topup", "value")]
    s1.send(hq)
    s3.emit("member.sought", {"identity": s3.phone(PHONE)})
    s3.send(hq)
    assert hq.member_followers(A) == ["s1", "s3"]
    fed = feed(hq, "s3", "ledger.entry")
    assert [c["data"]["entry_id"] for c in fed] == [e["entry_id"] for e in entries]
    assert {c["data"]["account"]: c["data"]["amount"] for c in fed} == {"points": 100,
                                                                        "value": 2000}
    # asked again (the till lost it, say): sent again, though it follows already
    s3.emit("member.sought", {"identity": s3.phone(PHONE)})
    # an identity nobody has: nothing; an identity of the wrong shape: a conflict
    s3.emit("member.sought", {"identity": s3.phone("+8613900000000")})
    s3.emit("member.sought", {"identity": {"kind": "phone", "idhash": "not hex"}})
    s3.send(hq)
    assert member_feed(hq, "s3")[-3:] == member_feed(hq, "s3")[:3]
    assert len(member_feed(hq, "s3")) == 6
    unknown = sims["s3"].phone("+8613900000000")["idhash"]
    assert [c["data"] for c in feed(hq, "s3", "member.unknown")] == [{"idhash": unknown}]
    assert all(feed(hq, s, "member.unknown") == [] for s in ("s1", "s2"))
    assert [(c["kind"], c["detail"]["type"]) for c in hq.conflicts()] == [
        ("invalid_event", "member.sought")]


def test_a_sought_identity_is_answered_in_the_tenant_fan_out_too(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    sims["s1"].created(A, PHONE)
    sims["s1"].send(hq)
    assert member_feed(hq, "s3") == [("member.upsert", A)]  # every store got it
    sims["s3"].emit("member.sought", {"identity": sims["s3"].phone(PHONE)})
    sims["s3"].send(hq)
    assert member_feed(hq, "s3") == [("member.upsert", A), ("member.upsert", A)]
    assert hq.member_followers(A) == []  # nobody follows in this mode


def test_a_merge_gives_every_follower_of_either_member_what_it_lacked(
        followers: CloudDb, sims: dict[str, MemberSim]) -> None:
    hq, s1, s2 = followers, sims["s1"], sims["s2"]
    s2.created(B, PHONE, name="Li")
    b_entry = s2.entry(B, 120)
    s2.send(hq)
    s1.created(A, PHONE)  # the same phone offline at s1: merged into A (older)
    a_entry = s1.entry(A, 30)
    s1.send(hq)
    assert hq.member_followers(A) == ["s1", "s2"] and hq.member_followers(B) == ["s1", "s2"]
    for store, lacked in (("s1", b_entry), ("s2", a_entry)):
        fed = member_feed(hq, store)
        assert ("member.merged", A) in fed and ("member.upsert", A) in fed
        assert ("ledger.entry", lacked["entry_id"]) in fed
        totals = sum(int(c["data"]["amount"]) for c in feed(hq, store, "ledger.entry")
                     if c["data"]["store"] != store) + sum(
            int(e["amount"]) for e in (a_entry, b_entry) if e["store"] == store)
        assert totals == 150 == hq.member_detail(A)["balances"]["points"]  # type: ignore[index]
    assert member_feed(hq, "s3") == []
    sims["s3"].emit("member.lookup", {"member": B})  # a stale id: s3 gets the survivor
    sims["s3"].send(hq)
    fed = member_feed(hq, "s3")
    assert fed[:2] == [("member.upsert", A), ("member.merged", A)]  # B's stale copy: into A
    assert sorted(fed[2:]) == sorted(("ledger.entry", e["entry_id"]) for e in (a_entry, b_entry))


def test_switching_to_followers_makes_followers_of_where_members_were_seen(
        hq: CloudDb, sims: dict[str, MemberSim]) -> None:
    for sim in sims.values():  # the switch reads the ledger of the last SEEN_DAYS: today's
        sim.day = utc_now().date().isoformat()
    sims["s1"].created(A, PHONE)
    sims["s1"].send(hq)
    sims["s2"].entry(A, 10)
    sims["s2"].send(hq)
    sims["s3"].created(B)
    old = sims["s3"].entry(B, 3)
    sims["s3"].events[-1]["data"] = {**old, "member": A, "at": "2020-01-01T00:00:00.000Z"}
    sims["s3"].send(hq)
    assert hq.set_member_fanout("followers") == {"mode": "followers", "was": "tenant",
                                                 "followers_added": 3}
    # s3's entry for A is older than follow.SEEN_DAYS: s3 follows A again at its next lookup
    assert hq.member_followers(A) == ["s1", "s2"] and hq.member_followers(B) == ["s3"]
    assert hq.set_member_fanout("followers")["followers_added"] == 0  # no change
    before = len(member_feed(hq, "s3"))
    sims["s1"].entry(A, 5)
    sims["s1"].send(hq)
    assert len(member_feed(hq, "s3")) == before and member_feed(hq, "s2")[-1][0] == "ledger.entry"
    with pytest.raises(ValueError):
        hq.set_member_fanout("everyone")
    assert hq.set_member_fanout("tenant")["was"] == "followers"
    sims["s1"].entry(A, 6)
    sims["s1"].send(hq)
    assert len(member_feed(hq, "s3")) == before + 1  # every store again


def test_hq_keeps_no_hash_of_a_sought_identity(
        followers: CloudDb, sims: dict[str, MemberSim], db_url: str) -> None:
    """A ``member.sought`` is stored without its identity hash (an erasure could not find it
    in the archives); HQ's ``member.unknown`` answers are scrubbed by an erasure of the member
    the identity later became."""
    hq, s1, s3 = followers, sims["s1"], sims["s3"]
    s1.created(A, PHONE)
    s1.send(hq)
    later = "+8613900000000"
    for phone in (PHONE, later):
        s3.emit("member.sought", {"identity": s3.phone(phone)})
    s3.emit("member.sought", {"identity": {"kind": "x" * 300, "idhash": "0" * 64}})  # refused
    s3.send(hq)
    s3.created(B, later)  # the unknown phone becomes a member, later erased
    s3.send(hq)
    hq.erase_member(B, "dpo")
    raw = open_backend(db_url)
    try:
        stored = [json.loads(r[0]) for r in raw.execute(
            "SELECT data FROM events WHERE type = 'member.sought' ORDER BY seq").fetchall()]
        answers = [json.loads(r[0]) for r in raw.execute(
            "SELECT data FROM changes WHERE type = 'member.unknown'").fetchall()]
    finally:
        raw.close()
    assert stored == [{"identity": {"kind": "phone"}}, {"identity": {"kind": "phone"}},
                      {"identity": {"kind": None}}]
    assert answers == [{"erased": True}]
    assert hq.member_followers(A) == ["s1", "s3"]


def test_a_store_that_no_longer_meets_a_member_stops_following_it(
        followers: CloudDb, sims: dict[str, MemberSim], db_url: str, tmp_path: Path) -> None:
    hq, s1, s2 = followers, sims["s1"], sims["s2"]
    s1.created(A, PHONE)
    s1.send(hq)
    s2.emit("member.lookup", {"member": A})
    s2.send(hq)
    raw = open_backend(db_url)  # s1 made it two years ago; s2 looked it up a year and a day ago
    try:
        with raw.write():
            raw.execute("UPDATE member_followers SET since = '2024-12-01T00:00:00.000Z', "
                        "seen = NULL WHERE store = 's1'")
            raw.execute("UPDATE member_followers SET since = '2024-12-01T00:00:00.000Z', "
                        "seen = '2025-12-05T09:00:00.000Z' WHERE store = 's2'")
    finally:
        raw.close()
    s2.emit("member.lookup", {"member": A})  # s2 meets it again: seen today
    s2.send(hq)
    done = hq.run_retention(tmp_path, retention.Retention(), date(2026, 12, 7))
    assert done["followers_dropped"] == 1 and hq.member_followers(A) == ["s2"]
    before = len(member_feed(hq, "s1"))
    s2.entry(A, 5)
    s2.send(hq)
    assert len(member_feed(hq, "s1")) == before  # s1 no longer gets A's entries
    s1.emit("member.lookup", {"member": A})  # until it looks A up: its state again
    s1.send(hq)
    assert hq.member_followers(A) == ["s1", "s2"]
    assert member_feed(hq, "s1")[before][0] == "member.upsert"
