"""The guest at the table sees and pays the dine_in_qr price a time-window rule sets."""

from __future__ import annotations

from tests.conftest import Api
from tests.edge.tables.conftest import Guest, guest, store_dir, tokens  # noqa: F401

from .conftest import SetClock

HAPPY_HOUR = {"categories": ["noodle"], "channels": ["dine_in_qr"], "days": [1],
              "from": "11:30", "to": "13:00", "kind": "percent_off", "value": 25}


async def test_the_guest_menu_and_order_use_the_rule_in_its_window(
        guest: Guest, manager: Api, shop_clock: SetClock) -> None:  # noqa: F811
    await manager.call("PUT", "/api/v1/price-rules/happy", HAPPY_HOUR)
    shop_clock("2026-12-07 12:00")  # Monday noon
    _, menu = await guest.call("GET", "/menu")
    items = {i["sku"]: i for i in menu["items"]}
    assert (items["C004"]["price_cents"], items["C004"]["price_rule"]) == (1200, "happy")
    assert items["C001"]["price_cents"] == 2800 and "price_rule" not in items["C001"]
    status, order = await guest.order([{"sku": "C004", "qty": 1}])
    assert status == 201 and order["total_cents"] == 1200
    shop_clock("2026-12-07 13:00")  # the window has closed
    _, menu = await guest.call("GET", "/menu")
    assert {i["sku"]: i for i in menu["items"]}["C004"]["price_cents"] == 1600
    status, order = await guest.order([{"sku": "C004", "qty": 1}], key="guest-key-0002")
    assert status == 201 and order["total_cents"] == 1600
