"""HQ's projection of the stores' bookings and waitlists and its reports (both backends):
bookings by store and day, no-show rate by store and source, waits and the error of their
estimates, the dining scenes of the members who book; and the scene rules themselves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.database import CloudDb
from cloud.members import consent
from cloud.sync.apply import apply_batch
from common.reservations import dining_scene
from sync import messages
from tests.cloud.sync.sim import EdgeSim
from tests.pg import throwaway_database

DAY = "2026-12-18"  # a Friday
MEMBER = "01JMEMBER0000000000000000A"


@pytest.fixture(params=("sqlite", "postgres"))
def hq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CloudDb]:
    def opened(url: str) -> Iterator[CloudDb]:
        cloud = CloudDb.open(url)
        cloud.add_store("s1", "acme")
        try:
            yield cloud
        finally:
            cloud.close()
    if request.param == "sqlite":
        yield from opened(f"sqlite:///{tmp_path / 'hq.db'}")
    else:
        with throwaway_database("storenode_test_res") as url:
            yield from opened(url)


def _booked(sim: EdgeSim, n: int, party: int, at: str, source: str = "phone",
            member: str | None = None, note: str = "") -> str:
    rid = f"01JRES{n:020d}"
    sim.emit("reservation.booked", {
        "id": rid, "code": "ABCDEF", "status": "booked", "table": "T4", "at": f"{DAY}T{at}",
        "day": DAY, "starts": f"{DAY}T11:00:00.000Z", "party": party, "duration_min": 90,
        "name": "x", "phone": "", "note": note, "source": source, "member": member,
        "hq_id": None, "lease": None})
    return rid


def _changed(sim: EdgeSim, rid: str, to: str, source: str = "phone") -> None:
    sim.emit("reservation.changed", {"id": rid, "hq_id": None, "from": "booked", "to": to,
                                     "at": f"{DAY}T12:00:00.000Z", "table": "T4", "party": 2,
                                     "source": source, "day": DAY})


def _apply(hq: CloudDb, sim: EdgeSim) -> None:
    payload = messages.encode(messages.up_batch("s1", sim.events))
    assert apply_batch(hq._db, "acme", "s1", payload).kind == "applied"


def test_report_and_scenes(hq: CloudDb) -> None:
    sim = EdgeSim("s1", DAY)
    seated = [_booked(sim, n, 2, "19:00", member=MEMBER) for n in range(3)]
    for rid in seated:
        _changed(sim, rid, "seated")
    _changed(sim, _booked(sim, 10, 4, "12:00", note="带宝宝", member=MEMBER), "no_show")
    _changed(sim, _booked(sim, 11, 6, "12:30", source="mini_program"), "no_show")
    _changed(sim, _booked(sim, 12, 6, "12:30", source="mini_program"), "completed")
    _changed(sim, _booked(sim, 13, 3, "18:00"), "cancelled")
    for n, (queue, estimate, waited) in enumerate((("A", 10, 900), ("A", 20, 900),
                                                   ("B", 30, 1800))):
        tid = f"01JTICKET{n:017d}"
        sim.emit("waitlist.issued", {"id": tid, "ticket": f"{queue}00{n}", "queue": queue,
                                     "party": 2, "day": DAY, "issued_at": f"{DAY}T11:00:00Z",
                                     "wait_min": estimate, "source": "guest"})
        sim.emit("waitlist.changed", {"id": tid, "ticket": f"{queue}00{n}", "queue": queue,
                                      "party": 2, "day": DAY, "from": "waiting", "to": "called",
                                      "at": f"{DAY}T11:15:00Z", "waited_s": waited,
                                      "wait_min": estimate})
        sim.emit("waitlist.changed", {"id": tid, "ticket": f"{queue}00{n}", "queue": queue,
                                      "party": 2, "day": DAY, "from": "called", "to": "seated",
                                      "at": f"{DAY}T11:20:00Z", "waited_s": waited + 300,
                                      "wait_min": estimate})
    _apply(hq, sim)
    assert hq.dining_scenes(MEMBER) == {}  # no profiling consent: no profile
    with hq._db.write():
        consent.change(hq._db, MEMBER, {"profiling": True}, "hq", None, f"{DAY}T00:00:00Z")

    doc = hq.reservation_report(None, DAY, DAY)
    [day] = doc["bookings"]
    assert (day["store"], day["day"], day["bookings"], day["no_shows"], day["cancelled"]) == (
        "s1", DAY, 7, 2, 1)
    rates = {r["source"]: (r["no_shows"], r["due"], r["no_show_rate"]) for r in doc["no_shows"]}
    assert rates == {"phone": (1, 4, 0.25), "mini_program": (1, 2, 0.5)}
    waits = {w["queue"]: w for w in doc["waits"]}
    # waited: issued to called; error: waited - estimate (A: 900-600, 900-1200)
    assert waits["A"]["tickets"] == 2 and waits["A"]["avg_wait_s"] == 900
    assert waits["A"]["mean_abs_error_s"] == 300 and waits["A"]["mean_error_s"] == 0
    assert waits["B"]["mean_error_s"] == 0
    assert hq.reservation_report(["other"], DAY, DAY)["bookings"] == []

    assert hq.dining_scenes(MEMBER) == {"couple": 3, "family": 1}
    assert hq.dining_scenes(None) == {"couple": 1}
    segments: dict[str, Any] = hq.segment_counts(None, None)
    assert segments["dining_scenes"] == {"couple": 1}
    found = hq.reservations_of_day("s1", DAY)["reservations"]
    assert {r["scene"] for r in found} == {"couple", "family", "business", "friends"}


@pytest.mark.parametrize(("party", "hour", "weekday", "note", "scene"), [
    (1, 12, 3, "", "solo"),
    (2, 19, 5, "", "couple"),
    (2, 12, 2, "和客户谈事", "business"),
    (4, 12, 2, "", "business"),
    (4, 19, 2, "", "friends"),
    (4, 12, 6, "", "family"),
    (5, 19, 3, "需要儿童椅", "family"),
    (10, 12, 2, "", "friends"),
    (3, 18, 7, "", "family"),
])
def test_dining_scene_rules(party: int, hour: int, weekday: int, note: str, scene: str) -> None:
    assert dining_scene(party, hour, weekday, note) == scene
