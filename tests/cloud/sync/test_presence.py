"""Presence HQ has not seen confirmed (issue 13.9), at the database, on both backends: a
retained birth that states a keepalive is not trusted, ``lapse`` marks such a store offline as
a death does unless it published a birth since HQ's (re)connect, and births from edges older
than rebirth requests (no keepalive) are trusted as before."""

from __future__ import annotations

import time

import pytest

from cloud.database import CloudDb
from cloud.db.backend import utc_now_iso
from cloud.feed.results import StateResult
from sync import messages

PAUSED = ["meituan", "eleme"]


def birth(bd_seq: int, cursor: int = 0, keepalive: int | None = 2) -> bytes:
    return messages.encode(messages.birth(bd_seq, cursor, "1.2.3", keepalive=keepalive))


def later() -> str:
    """A time after everything recorded so far (times are kept to the millisecond)."""
    time.sleep(0.002)
    now = utc_now_iso()
    time.sleep(0.002)
    return now


def test_a_retained_birth_is_not_trusted_and_an_unconfirmed_store_lapses(db: CloudDb) -> None:
    assert db.record_state("acme", "s1", birth(3, 7)) == StateResult(True, True, 7)
    assert db.get_store("s1")["online"]  # type: ignore[index]
    assert db.presence()[0] == {"store": "s1", "tenant": "acme", "online": 1, "bd_seq": 3,
                                "applied_seq": 0, "keepalive_s": 2, "epoch": 1}
    since = later()  # HQ reconnects: the broker hands out the retained birth again
    again = db.record_state("acme", "s1", birth(3, 7), retained=True)
    assert not again.accepted and again.online and again.replay_from is None
    assert "retained" in (again.reason or "")
    # a retained birth of a newer connection does not bring a store online either
    assert not db.record_state("acme", "s1", birth(4, 9), retained=True).accepted
    assert db.get_store("s1")["bd_seq"] == 3  # type: ignore[index]
    # nobody answered the rebirth request: offline, channels paused, as a death would
    assert not db.lapse("acme", "s1", 2, since)  # not the connection HQ knows
    assert db.lapse("acme", "s1", 3, since)
    info = db.get_store("s1")
    assert info is not None and not info["online"] and info["paused_channels"] == PAUSED
    assert not db.lapse("acme", "s1", 3, since)  # once
    # the store comes back: a live birth of its next connection
    assert db.record_state("acme", "s1", birth(4, 9)).replay_from == 9
    assert db.get_store("s1")["paused_channels"] == []  # type: ignore[index]


def test_a_store_that_answers_the_rebirth_request_does_not_lapse(db: CloudDb) -> None:
    db.record_state("acme", "s1", birth(5, 1))
    since = later()
    assert db.record_state("acme", "s1", birth(5, 4)).replay_from == 4  # the answer, live
    assert not db.lapse("acme", "s1", 5, since)
    info = db.get_store("s1")
    assert info is not None and info["online"] and info["paused_channels"] == []
    # a frozen edge whose answer comes after the lapse is online again with it
    since = later()
    assert db.lapse("acme", "s1", 5, since)
    assert db.record_state("acme", "s1", birth(5, 4)).accepted
    assert db.get_store("s1")["online"]  # type: ignore[index]


@pytest.mark.parametrize("retained", [False, True])
def test_births_of_edges_before_rebirth_requests_are_trusted(db: CloudDb,
                                                             retained: bool) -> None:
    """No keepalive in the birth: that edge cannot answer a rebirth request, so HQ keeps
    trusting its births (retained or not) rather than pausing it at every HQ restart."""
    db.record_state("acme", "s1", birth(1, 2))
    since = later()
    assert db.record_state("acme", "s1", birth(1, 2, keepalive=None), retained).accepted
    assert db.presence()[0]["keepalive_s"] is None
    assert not db.lapse("acme", "s1", 1, since)
    assert db.get_store("s1")["online"]  # type: ignore[index]


def test_a_retained_death_is_trusted(db: CloudDb) -> None:
    db.record_state("acme", "s1", birth(2))
    died = messages.encode(messages.death(2))
    assert db.record_state("acme", "s1", died, retained=True) == StateResult(True, False, None)
    assert db.get_store("s1")["paused_channels"] == PAUSED  # type: ignore[index]


def test_rebirth_and_keepalive_on_the_wire() -> None:
    ack = messages.parse_ack(messages.encode(messages.reconnect_ack(41)))
    assert ack == {"v": 1, "resend_from": 42, "applied_seq": 41, "rebirth": True,
                   "epoch": 1}
    assert messages.parse_ack(messages.encode({"rebirth": True}))["rebirth"] is True
    for bad in ({"rebirth": False}, {"rebirth": 1}, {"applied_seq": 1, "rebirth": "yes"}):
        with pytest.raises(messages.MessageError):
            messages.parse_ack(messages.encode(bad))
    assert messages.parse_state(birth(1, keepalive=15))["keepalive"] == 15
    old = messages.encode({"online": True, "bd_seq": 1, "applied_down_cursor": 0})
    assert "keepalive" not in messages.parse_state(old)  # an older edge's birth stays valid
    for bad_keepalive in (0, -1, "15", True):
        with pytest.raises(messages.MessageError):
            messages.parse_state(messages.encode({"online": True, "bd_seq": 1,
                                                  "applied_down_cursor": 0,
                                                  "keepalive": bad_keepalive}))
