"""The member's leases and lease history as the HQ API shows them, on both backends: what
still counts, every revision, and a settlement after a reconnect with its numbers."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from sync import messages
from tests.cloud.api.conftest import admin, analyst, db_url, hq, hq_dir  # noqa: F401
from tests.cloud.api.test_api import db
from tests.conftest import Api

from .conftest import MemberSim

A = "01JAAAAAAAAAAAAAAAAAAAAAAA"


async def send(hq: TestClient, sim: MemberSim) -> None:  # noqa: F811
    payload = messages.encode(messages.up_batch(sim.store, sim.events[sim.sent:]))
    assert (await db(hq, "apply_batch", "acme", sim.store, payload)).kind == "applied"
    sim.sent = len(sim.events)


async def state(hq: TestClient, message: dict[str, object]) -> None:  # noqa: F811
    assert (await db(hq, "record_state", "acme", "s1", messages.encode(message))).accepted


async def test_leases_and_their_settlement_are_visible_at_hq(
        hq: TestClient, analyst: Api) -> None:  # noqa: F811
    s1 = MemberSim("s1", await db(hq, "tenant_key", "acme"))
    s1.created(A, "+8613800138000")
    s1.entry(A, 400)
    await send(hq, s1)
    await state(hq, messages.birth(1, 0, "1.0.0", len(s1.events)))
    s1.emit("member.lookup", {"member": A})
    await send(hq, s1)
    status, member = await analyst.get(f"/api/v1/members/{A}")
    assert status == 200
    (lease,) = member["leases"]
    assert (lease["store"], lease["remaining_points"], lease["counted_points"]) == ("s1", 200, 200)
    await state(hq, messages.death(1))
    s1.entry(A, -150, "redeem", lease_id=lease["lease_id"])  # offline
    await state(hq, messages.birth(2, 0, "1.0.0", len(s1.events)))
    await send(hq, s1)
    _, member = await analyst.get(f"/api/v1/members/{A}")
    history = [(x["kind"], x["rev"], x["points"]) for x in member["lease_history"]]
    # back online, 50 left of its lease: topped up to its share of the 250 left (half), so
    # 150 spent + 125 in all
    assert history == [("granted", 1, 200), ("grown", 2, 275), ("settled", 2, 275)]
    settled = member["lease_history"][-1]["detail"]
    assert settled == {"action": "grown", "used_points": 150, "used_value": 0,
                       "remaining_points": 50, "remaining_value": 0, "balance_points": 250,
                       "balance_value": 0, "overspent_points": 0, "overspent_value": 0}
    assert member["leases"][0]["counted_points"] == 125  # a larger amount counts at once
