"""Member identities, profile edits and views at the till (docs/members.md, wire shapes):
``member.identity_added``, ``member.profile_changed`` (per field LWW by HLC), ``member.viewed``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from edge.members import rules
from sync.hlc import format_hlc, parse_hlc
from tests.conftest import Api

from .conftest import PHONE, TENANT_KEY, feed, hlc, outbox, phone_identity
from .test_api import MEMBER, hq_member, idem

OTHER = "01HZZZZZZZZZZZZZZZZZZZZZZ2"
OLD = "01HZZZZZZZZZZZZZZZZZZZZZZ0"  # merged into MEMBER
UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
IDENTITIES = f"/api/v1/members/{MEMBER}/identities"
PROFILE = f"/api/v1/members/{MEMBER}"
VIEWED = f"/api/v1/members/{MEMBER}/viewed"


def written(store_dir: Path) -> tuple[Any, ...]:
    """What a refused request must leave as it was: outbox, idempotency answers, members."""
    conn = sqlite3.connect(f"file:{store_dir / 'storenode.db'}?mode=ro", uri=True)
    try:
        return tuple(conn.execute(sql).fetchall() for sql in (
            "SELECT COUNT(*) FROM outbox", "SELECT COUNT(*) FROM member_requests",
            "SELECT idhash, member FROM member_identities ORDER BY idhash",
            "SELECT id, name, birthday, name_hlc, birthday_hlc FROM members ORDER BY id"))
    finally:
        conn.close()


async def patch(api: Api, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    return await api.call("PATCH", path, body, **kw)


def unionid(value: str) -> dict[str, Any]:
    return {"kind": "wechat_unionid", "idhash": rules.idhash(TENANT_KEY, "wechat_unionid", value)}


async def test_member_writes_answer_503_without_the_tenant_key(cashier: Api) -> None:
    for status, body in (
            await cashier.post(IDENTITIES, {"kind": "phone", "value": PHONE}, headers=idem()),
            await patch(cashier, PROFILE, {"name": "Wang"}, headers=idem()),
            await cashier.post(VIEWED, {"skus": ["C001"]})):
        assert (status, body["error"]) == (503, "members_unavailable")


async def test_add_identity_hashes_emits_once_and_refuses_another_members(
        keyed: TestClient, cashier: Api, kitchen: Api) -> None:
    await hq_member(keyed)
    await hq_member(keyed, OTHER, "+8613900009999")
    key = idem()
    status, view = await cashier.post(IDENTITIES, {"kind": "phone", "value": "139 0000 1111"},
                                      headers=key)
    assert status == 201, view
    assert view["id"] == MEMBER
    assert sorted(i["last4"] for i in view["identities"]) == ["1111", "5678"]
    assert await outbox(keyed, "member.identity_added") == [
        {"member": MEMBER, "identity": phone_identity("+8613900001111")}]
    status, found = await cashier.get("/api/v1/members/lookup?phone=13900001111")
    assert (status, found["id"]) == (200, MEMBER)
    # a replay: the first answer, no second event; the key with another body: 422
    assert await cashier.post(IDENTITIES, {"kind": "phone", "value": "139 0000 1111"},
                              headers=key) == (200, view)
    status, err = await cashier.post(IDENTITIES, {"kind": "phone", "value": "13900002222"},
                                     headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    # the member already has it (any spelling, a new key): 200, no event
    status, again = await cashier.post(IDENTITIES, {"kind": "phone", "value": "+8613900001111"},
                                       headers=idem())
    assert (status, again["id"]) == (200, MEMBER)
    # another member has it: 409 with that member's id
    status, err = await cashier.post(IDENTITIES, {"kind": "phone", "value": "13900009999"},
                                     headers=idem())
    assert (status, err["error"], err["detail"]["member"]) == (409, "identity_taken", OTHER)
    # a non-phone identity: hashed, no last4; a merged id lands on the survivor
    await feed(keyed, {"type": "member.merged", "data": {"from": OLD, "into": MEMBER}})
    status, view = await cashier.post(f"/api/v1/members/{OLD}/identities",
                                      {"kind": "wechat_unionid", "value": "oWx_unionid-777"},
                                      headers=idem())
    assert (status, view["id"]) == (201, MEMBER)
    status, found = await cashier.get("/api/v1/members/lookup?unionid=oWx_unionid-777")
    assert (status, found["id"]) == (200, MEMBER)
    events = await outbox(keyed, "member.identity_added")
    assert events[1:] == [{"member": MEMBER, "identity": unionid("oWx_unionid-777")}]
    status, err = await kitchen.post(IDENTITIES, {"kind": "code", "value": "CARD-1"},
                                     headers=idem())
    assert (status, err["error"]) == (403, "forbidden")


async def test_add_identity_refuses_bad_input_and_writes_nothing(
        keyed: TestClient, cashier: Api, store_dir: Path) -> None:
    await hq_member(keyed)
    before = written(store_dir)
    refusals: list[tuple[str, Any, dict[str, str] | None, int, str]] = [
        (IDENTITIES, {"kind": "phone", "value": "12345"}, idem(), 422, "invalid_phone"),
        (IDENTITIES, {"kind": "email", "value": "a@b.c"}, idem(), 422, "invalid_body"),
        (IDENTITIES, {"kind": "phone"}, idem(), 422, "invalid_body"),
        (IDENTITIES, {"kind": "code", "value": "x" * 65}, idem(), 422, "invalid_body"),
        (IDENTITIES, {"kind": "code", "value": "CARD-1", "extra": 1}, idem(), 422,
         "invalid_body"),
        (IDENTITIES, {"kind": "code", "value": "ab"}, idem(), 422, "invalid_identity"),
        (IDENTITIES, {"kind": "wechat_unionid", "value": "no spaces!"}, idem(), 422,
         "invalid_identity"),
        (IDENTITIES, {"kind": "code", "value": "CARD-1"}, None, 422,
         "idempotency_key_required"),
        (f"/api/v1/members/{UNKNOWN}/identities", {"kind": "code", "value": "CARD-1"}, idem(),
         404, "unknown_member"),
        ("/api/v1/members/nobody/identities", {"kind": "code", "value": "CARD-1"}, idem(), 404,
         "unknown_member"),
    ]
    for path, body, headers, want, code in refusals:
        status, err = await cashier.post(path, body, headers=headers)
        assert (status, err["error"]) == (want, code), (body, err)
    resp = await keyed.post(IDENTITIES, data=b"{not json", headers={
        "Authorization": f"Bearer {cashier.token}", **idem()})
    assert resp.status == 400 and (await resp.json())["error"] == "malformed_json"
    assert written(store_dir) == before


async def test_profile_edit_is_idempotent_validated_and_emitted(
        keyed: TestClient, cashier: Api, store_dir: Path) -> None:
    await hq_member(keyed)
    key = idem()
    status, view = await patch(cashier, PROFILE, {"name": "Wang", "birthday": "02-29"},
                               headers=key)
    assert status == 200, view
    assert (view["name"], view["birthday"]) == ("Wang", "02-29")
    assert await patch(cashier, PROFILE, {"name": "Wang", "birthday": "02-29"},
                       headers=key) == (200, view)
    status, err = await patch(cashier, PROFILE, {"name": "Zhao"}, headers=key)
    assert (status, err["error"]) == (422, "idempotency_key_reused")
    events = await outbox(keyed, "member.profile_changed")
    assert len(events) == 1
    assert events[0]["member"] == MEMBER
    assert events[0]["fields"] == {"name": "Wang", "birthday": "02-29"}
    parse_hlc(events[0]["hlc"])
    # one field only; null clears it; a merged id lands on the survivor
    await feed(keyed, {"type": "member.merged", "data": {"from": OLD, "into": MEMBER}})
    status, view = await patch(cashier, f"/api/v1/members/{OLD}", {"birthday": None},
                               headers=idem())
    assert (status, view["id"], view["name"], view["birthday"]) == (200, MEMBER, "Wang", None)
    events = await outbox(keyed, "member.profile_changed")
    assert events[1]["member"] == MEMBER and events[1]["fields"] == {"birthday": None}
    assert events[1]["hlc"] > events[0]["hlc"]
    before = written(store_dir)
    refusals: list[tuple[str, Any, dict[str, str] | None, int, str]] = [
        (PROFILE, {}, idem(), 422, "invalid_body"),
        (PROFILE, {"name": ""}, idem(), 422, "invalid_body"),
        (PROFILE, {"name": "x" * 101}, idem(), 422, "invalid_body"),
        (PROFILE, {"nickname": "x"}, idem(), 422, "invalid_body"),
        (PROFILE, {"birthday": "13-01"}, idem(), 422, "invalid_body"),
        (PROFILE, {"birthday": "1990-03-14"}, idem(), 422, "invalid_body"),
        (PROFILE, {"name": "Li", "birthday": "02-30"}, idem(), 422, "invalid_birthday"),
        (PROFILE, {"birthday": "04-31"}, idem(), 422, "invalid_birthday"),
        (PROFILE, {"name": "Li"}, None, 422, "idempotency_key_required"),
        (f"/api/v1/members/{UNKNOWN}", {"name": "Li"}, idem(), 404, "unknown_member"),
    ]
    for path, body, headers, want, code in refusals:
        status, err = await patch(cashier, path, body, headers=headers)
        assert (status, err["error"]) == (want, code), (body, err)
    assert written(store_dir) == before


async def test_profile_fields_are_last_writer_wins_with_hq_upserts(
        keyed: TestClient, cashier: Api) -> None:
    await hq_member(keyed)  # name "Li"
    status, _ = await patch(cashier, PROFILE, {"name": "Wang", "birthday": "03-14"},
                            headers=idem())
    assert status == 200
    edit = (await outbox(keyed, "member.profile_changed"))[-1]["hlc"]
    physical, _ = parse_hlc(edit)

    async def upsert(at: str, **fields: Any) -> dict[str, Any]:
        result = await feed(keyed, {"type": "member.upsert", "data": {
            "member": {"id": MEMBER, "hlc": at, **fields}, "identities": []}})
        assert result["rejected"] == 0, result
        status, found = await cashier.get(f"/api/v1/members/lookup?phone={PHONE[1:]}")
        assert status == 200
        return dict(found)

    # an older HQ value (a delayed upsert) loses, field by field
    found = await upsert(format_hlc(physical - 1000, 0), name="Older", birthday="01-01")
    assert (found["name"], found["birthday"]) == ("Wang", "03-14")
    # a newer one wins for the field it names only
    newer = format_hlc(physical + 60_000, 0)
    found = await upsert(newer, name="Newer")
    assert (found["name"], found["birthday"]) == ("Newer", "03-14")
    # an edit after that (the till saw the newer value) follows its HLC and wins here too
    status, view = await patch(cashier, PROFILE, {"name": "Again"}, headers=idem())
    assert (status, view["name"], view["birthday"]) == (200, "Again", "03-14")
    last = (await outbox(keyed, "member.profile_changed"))[-1]
    assert last["hlc"] > newer and last["fields"] == {"name": "Again"}
    found = await upsert(newer, name="Newer")  # HQ restating the older value: no effect
    assert found["name"] == "Again"
    found = await upsert(hlc(), birthday="12-24")  # a field the edit did not touch
    assert (found["name"], found["birthday"]) == ("Again", "12-24")


async def test_viewed_emits_an_event_and_writes_nothing_else(
        keyed: TestClient, cashier: Api, store_dir: Path) -> None:
    await hq_member(keyed)
    before = written(store_dir)
    status, got = await cashier.post(VIEWED, {"skus": ["C001", "C002", "C001"]})
    assert (status, got) == (202, {"member": MEMBER, "skus": ["C001", "C002"]})
    await feed(keyed, {"type": "member.merged", "data": {"from": OLD, "into": MEMBER}})
    status, got = await cashier.post(f"/api/v1/members/{OLD}/viewed", {"skus": ["C003"]})
    assert (status, got["member"]) == (202, MEMBER)
    assert await outbox(keyed, "member.viewed") == [
        {"member": MEMBER, "skus": ["C001", "C002"]}, {"member": MEMBER, "skus": ["C003"]}]
    after = written(store_dir)
    assert after[1:] == before[1:]  # idempotency answers, identities, profiles: untouched
    refusals: list[tuple[str, Any, int, str]] = [
        (VIEWED, {"skus": ["C001", "NOPE-1"]}, 422, "unknown_sku"),
        (VIEWED, {"skus": []}, 422, "invalid_body"),
        (VIEWED, {"skus": [f"C{n:03d}" for n in range(21)]}, 422, "invalid_body"),
        (VIEWED, {"skus": ["bad sku!"]}, 422, "invalid_body"),
        (VIEWED, {"skus": "C001"}, 422, "invalid_body"),
        (VIEWED, {}, 422, "invalid_body"),
        (f"/api/v1/members/{UNKNOWN}/viewed", {"skus": ["C001"]}, 404, "unknown_member"),
    ]
    for path, body, want, code in refusals:
        status, err = await cashier.post(path, body)
        assert (status, err["error"]) == (want, code), (body, err)
    status, err = await cashier.post(VIEWED, {"skus": ["C001", "NOPE-1"]})
    assert err["detail"] == {"skus": ["NOPE-1"]}
    assert written(store_dir) == after


async def test_a_field_stamped_far_in_the_future_refuses_the_edit_and_is_counted(
        keyed: TestClient, cashier: Api, manager: Api, store_dir: Path) -> None:
    """A member.upsert from a clock an hour ahead (beyond sync.max_clock_drift_s = 300 s):
    the till's edit could only win by following that clock, so it is refused (409
    clock_drift, nothing written), the store's clock stays put, and /metrics counts it."""
    await hq_member(keyed)
    physical, _ = parse_hlc(hlc())
    far = format_hlc(physical + 3_600_000, 0)
    result = await feed(keyed, {"type": "member.upsert", "data": {
        "member": {"id": MEMBER, "hlc": far, "name": "Future"}, "identities": []}})
    assert result["rejected"] == 0, result
    before = written(store_dir)
    status, err = await patch(cashier, PROFILE, {"name": "Wang"}, headers=idem())
    assert (status, err["error"]) == (409, "clock_drift")
    assert err["detail"]["field"] == "name" and err["detail"]["hlc"] == far
    assert written(store_dir) == before
    # a field without a future stamp is still editable, and its HLC is of the local clock
    status, view = await patch(cashier, PROFILE, {"birthday": "03-14"}, headers=idem())
    assert (status, view["name"], view["birthday"]) == (200, "Future", "03-14")
    edit = (await outbox(keyed, "member.profile_changed"))[-1]["hlc"]
    assert parse_hlc(edit)[0] < physical + 300_000
    resp = await keyed.get("/metrics", headers={"Authorization": f"Bearer {manager.token}"})
    assert "storenode_hlc_drift_rejected_total 1.0" in await resp.text()
