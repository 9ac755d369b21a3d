"""The POS page's reservations view in Chromium against a real daemon (no internet): a
cashier books a table for tonight by phone, sees it in the day's list on the table the store
chose, seats the party (the table's seating opens), and a second booking for the only table
left is refused with the reason on the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from common.clock import utc_now
from devtools.helpers import Daemon, request
from edge.config import load_settings
from tests.helpers import STAFF, login

from .conftest import open_page, staff_login


def test_book_list_and_seat_from_the_pos(store: Daemon, browser: Any) -> None:
    tz = load_settings(store.data_dir).timezone
    local = utc_now().astimezone(tz) + timedelta(minutes=30)
    hhmm = f"{local.hour:02d}:{(local.minute // 15) * 15:02d}"
    context, page, guard = open_page(browser, store.url)
    page.goto(store.url + "/")
    staff_login(page, "cashier", STAFF["cashier"])
    page.wait_for_selector("#reservations-box #res-form")
    page.evaluate(f"() => {{ const d = document.getElementById('res-day'); d.value = "
                  f"'{local.date().isoformat()}'; d.dispatchEvent(new Event('change')); }}")
    form = page.locator("#res-form")
    form.locator("input[name=name]").fill("王先生")
    form.locator("input[name=phone]").fill("138 0013 8000")
    form.locator("input[name=party]").fill("3")
    form.locator("input[name=time]").fill(hhmm)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#res-result.ok")
    row = page.locator("#reservations li.reservation[data-status=booked]")
    assert row.count() == 1 and row.locator(".res-table").inner_text() == "T4"
    assert "王先生" in row.inner_text() and hhmm in row.inner_text()

    row.locator("button.to-seated").click()
    page.wait_for_selector("#reservations li.reservation[data-status=seated]")
    token = login(store.url, "manager")
    _, tables = request("GET", f"{store.url}/api/v1/tables", token=token)
    t4 = next(t for t in tables if t["id"] == "T4")
    assert t4["status"] == "seated" and t4["session"]["guests"] == 3
    page.wait_for_selector("#tables li[data-table=T4][data-status=seated]")

    form.locator("input[name=party]").fill("4")
    form.locator("input[name=time]").fill(hhmm)
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#res-result.error")
    assert "no_table" in page.inner_text("#res-result")
    guard.check()
    context.close()
