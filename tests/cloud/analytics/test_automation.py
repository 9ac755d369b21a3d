"""Automation triggers on both backends: birthday, win-back and viewed-not-bought find the
right members; a second run (any number of runs) records and sends nothing more; with the
trigger's template configured the member gets one coupon, sent to their tenant's stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.database import CloudDb
from cloud.members.coupons import UnknownTemplate

from .conftest import NOW, Orders, add_member, add_view, ago, feed

TEMPLATE = {"template_id": "auto-birthday", "kind": "amount_off", "value": 500,
            "min_spend": None, "sku": None, "channels": None, "stores": None,
            "exclusive_group": None, "valid_from": "2026-01-01T00:00:00.000Z",
            "valid_to": "2099-01-01T00:00:00.000Z"}


def members_of(result: dict) -> list[str]:
    return sorted(r["member"] for r in result["runs"])


def test_birthday_issues_one_coupon_per_member_and_month(hq: CloudDb) -> None:
    hq.put_coupon_template(TEMPLATE)
    add_member(hq, "A", birthday="06-01")
    add_member(hq, "B", birthday="06-30")
    add_member(hq, "C", birthday="07-15")
    add_member(hq, "D", birthday="06-10", merged_into="A")
    add_member(hq, "X", tenant="other", birthday="06-20")
    first = hq.run_automation("birthday", NOW)
    assert members_of(first) == ["A", "B", "X"]
    assert {r["outcome"] for r in first["runs"]} == {"issued"}
    assert {r["period"] for r in first["runs"]} == {"2026-06"}
    assert set(first["stores"]) == {"s1", "s2", "x1"}
    again = hq.run_automation("birthday", NOW + timedelta(days=3))
    assert again["runs"] == [] and again["stores"] == {}
    issued = feed(hq, "s1", "coupon.issued")
    assert sorted(c["data"]["member"] for c in issued) == ["A", "B"]
    assert [c["data"]["member"] for c in feed(hq, "x1", "coupon.issued")] == ["X"]
    runs = hq.automation_runs("birthday")
    assert len(runs) == 3 and all(r["detail"]["code"] for r in runs)
    assert runs[0]["detail"]["template_id"] == "auto-birthday"
    codes = {r["member"]: r["detail"]["code"] for r in runs}
    assert hq.coupon(codes["A"])["member"] == "A"
    next_year = hq.run_automation("birthday", NOW.replace(year=2027))
    assert members_of(next_year) == ["A", "B", "X"]


def test_without_a_template_the_intended_action_is_recorded(hq: CloudDb) -> None:
    add_member(hq, "A", birthday="06-01")
    first = hq.run_automation("birthday", NOW)
    assert [(r["member"], r["outcome"]) for r in first["runs"]] == [("A", "recorded")]
    assert first["stores"] == {} and feed(hq, "s1", "coupon.issued") == []
    assert hq.run_automation("birthday", NOW)["runs"] == []
    assert [r["outcome"] for r in hq.automation_runs()] == ["recorded"]


def test_winback_once_per_lapse(hq: CloudDb, orders: Orders) -> None:
    for member in ("A", "B", "C"):
        add_member(hq, member)
    orders.add("A", ago(61))
    orders.add("B", ago(59))
    orders.add("C", ago(90))
    orders.add("C", ago(1), status="cancelled")  # a cancelled order is no order
    first = hq.run_automation("winback", NOW)
    assert members_of(first) == ["A", "C"]
    assert {r["period"] for r in first["runs"]} == {f"since-{ago(61)[:10]}",
                                                    f"since-{ago(90)[:10]}"}
    assert hq.run_automation("winback", NOW)["runs"] == []
    later = NOW + timedelta(days=5)
    assert members_of(hq.run_automation("winback", later)) == ["B"]
    orders.add("A", ago(0))  # A comes back, then lapses again: a new period
    assert members_of(hq.run_automation("winback", NOW + timedelta(days=61))) == ["A"]
    assert len(hq.automation_runs("winback", "A")) == 2


def test_viewed_not_bought(hq: CloudDb, orders: Orders) -> None:
    for member in ("A", "B", "C", "D", "E"):
        add_member(hq, member)
    add_view(hq, "A", ago(hours=30), ["C001"])  # no order since: due
    add_view(hq, "A", ago(hours=28), ["C002"])  # same day: one run with both SKUs
    add_view(hq, "B", ago(hours=30), ["C001"])
    orders.add("B", ago(hours=20))  # bought within 24 h
    add_view(hq, "C", ago(hours=10), ["C001"])  # less than 24 h ago: not yet
    add_view(hq, "D", ago(hours=50), ["C003"])
    orders.add("D", ago(hours=10))  # bought, but more than 24 h after the view: due
    add_view(hq, "E", ago(days=9), ["C001"])  # too old to act on
    add_member(hq, "F")
    add_view(hq, "F", ago(hours=30), ["C001"])  # applied late: the order came first
    orders.add("F", ago(hours=33))
    first = hq.run_automation("viewed_not_bought", NOW)
    assert members_of(first) == ["A", "D"]
    a = next(r for r in first["runs"] if r["member"] == "A")
    assert a["detail"]["skus"] == ["C001", "C002"] and a["period"] == ago(hours=30)[:10]
    assert hq.run_automation("viewed_not_bought", NOW)["runs"] == []
    assert members_of(hq.run_automation("viewed_not_bought", NOW + timedelta(hours=15))) == ["C"]


def test_two_connections_running_at_once_record_once(hq: CloudDb, db_url: str) -> None:
    import threading

    hq.put_coupon_template({**TEMPLATE, "template_id": "auto-birthday"})
    for n in range(50):
        add_member(hq, f"M{n:03d}", birthday="06-05")
    other = CloudDb.open(db_url)
    results: list[dict] = []
    try:
        threads = [threading.Thread(target=lambda db=db: results.append(
            db.run_automation("birthday", NOW))) for db in (hq, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        other.close()
    assert sum(len(r["runs"]) for r in results) == 50
    assert len(hq.automation_runs("birthday", limit=1000)) == 50
    issued = feed(hq, "s1", "coupon.issued")
    assert len(issued) == 50 and len({c["data"]["member"] for c in issued}) == 50


def test_settings_choose_the_template_and_thresholds_api_over_config(
        hq: CloudDb, orders: Orders) -> None:
    """Thresholds and the template come from the settings: the API's overrides over
    cloud.toml's (``config``) over the defaults; a run records which it used, and a
    member is still acted on once per period whatever the settings say later."""
    hq.put_coupon_template({**TEMPLATE, "template_id": "lapsed-5"})
    for member in ("A", "B", "C"):
        add_member(hq, member)
    orders.add("A", ago(35))
    orders.add("B", ago(59))
    orders.add("C", ago(95))
    config = {"winback": {"lapsed_days": 90, "template": ""}}
    first = hq.run_automation("winback", NOW, config)
    assert members_of(first) == ["C"] and first["settings"]["lapsed_days"] == 90
    assert [r["outcome"] for r in first["runs"]] == ["recorded"]  # "": record only
    assert first["runs"][0]["detail"]["lapsed_days"] == 90
    assert hq.put_automation_settings("winback", {"lapsed_days": 30,
                                                  "template": "lapsed-5"}) == {
        "lapsed_days": 30, "template": "lapsed-5"}
    second = hq.run_automation("winback", NOW, config)
    assert members_of(second) == ["A", "B"]  # C: already run for this lapse
    assert {r["outcome"] for r in second["runs"]} == {"issued"}
    assert {r["detail"]["template_id"] for r in second["runs"]} == {"lapsed-5"}
    assert hq.run_automation("winback", NOW, config)["runs"] == []
    # None gives a field back to cloud.toml
    assert hq.put_automation_settings("winback", {"lapsed_days": None}) == {
        "template": "lapsed-5"}
    assert hq.run_automation("winback", NOW, config)["settings"]["lapsed_days"] == 90
    # a template HQ does not have is refused and nothing is written
    with pytest.raises(UnknownTemplate):
        hq.put_automation_settings("winback", {"template": "nope", "lapsed_days": 7})
    assert hq.automation_overrides() == {"winback": {"template": "lapsed-5"}}


def test_viewed_window_and_lookback_come_from_the_settings(hq: CloudDb, orders: Orders) -> None:
    for member in ("A", "B"):
        add_member(hq, member)
    add_view(hq, "A", ago(hours=10), ["C001"])  # due with a 6 h window, not with 24 h
    add_view(hq, "B", ago(days=3), ["C001"])  # too old with a 2-day lookback
    assert members_of(hq.run_automation("viewed_not_bought", NOW)) == ["B"]
    hq.put_automation_settings("viewed_not_bought", {"window_h": 6, "lookback_days": 2})
    run = hq.run_automation("viewed_not_bought", NOW)
    assert members_of(run) == ["A"] and run["runs"][0]["detail"]["window_h"] == 6


def test_consent_gates_the_automation(hq: CloudDb) -> None:
    """Off until granted; a withdrawal stops the next run's coupon; granted again, it runs."""
    hq.put_coupon_template(TEMPLATE)
    add_member(hq, "A", birthday="06-01")
    add_member(hq, "N", birthday="06-02", marketing=False)  # never granted
    add_member(hq, "W", birthday="06-03")
    hq.member_consents("W", {"marketing": False})  # withdrawn at HQ before the run
    assert members_of(hq.run_automation("birthday", NOW)) == ["A"]
    assert [c["data"]["member"] for c in feed(hq, "s1", "coupon.issued")] == ["A"]
    found = hq.member_consents("W", {"marketing": True})
    assert found is not None and found["consents"]["marketing"]["granted"]
    assert [(h["purpose"], h["granted"], h["source"]) for h in found["history"]] == [
        ("marketing", True, "hq"), ("marketing", False, "hq"), ("marketing", True, "hq")]
    assert members_of(hq.run_automation("birthday", NOW + timedelta(days=1))) == ["W"]
    assert hq.member_consents("nobody") is None
