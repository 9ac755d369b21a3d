"""The ``platform.order`` change: a delivery-platform order HQ accepted (cloud/platforms),
placed here through the order center like any other order.

The order is created by ``writes.create_order`` on the platform's channel with the
Idempotency-Key HQ derived from the platform order id (``platform:<platform>:<id>``), so a
change applied twice places one order. A new order is followed by
``platform.order_linked {platform, platform_order_id, order_id, number}`` in the same
transaction: HQ uses it to report the order's status changes back to the platform. An order
the store cannot place (out of stock, an unknown SKU) is refused like any change
(``sync.change_rejected``, which HQ turns into a ``cancelled`` callback).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from zoneinfo import ZoneInfo

from edge.orders import writes
from edge.db.group_commit import Tx


def apply_platform_order(tx: Tx, data: dict[str, Any], tz: ZoneInfo) -> None:
    lines = [{"sku": line["sku"], "qty": line["qty"],
              **({"note": line["note"]} if line.get("note") else {})} for line in data["lines"]]
    request = {"channel": data["channel"], "lines": lines}
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":"))
                            .encode()).hexdigest()
    try:
        order, replayed = writes.create_order(tx, request, data["idempotency_key"], digest, tz)
    except BaseException:
        tx.cache.clear()  # the savepoint is rolled back: what the cache read may not hold
        raise
    if not replayed:
        tx.emit("platform.order_linked", {
            "platform": data["platform"], "platform_order_id": data["platform_order_id"],
            "order_id": order["id"], "number": order["number"]})
