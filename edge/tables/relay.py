"""The ``guest.order`` change: a guest's order HQ relayed (a guest on mobile data, or the
brand's mini-program), placed here exactly as the guest page's order is.

The change carries the table's token, the guest's Idempotency-Key and the body the guest
sent. ``place_guest_order`` scopes the key to the table, so the same key through HQ and
through the shop's Wi-Fi places one order. Placed (or found placed before), the order is
followed by ``guest.order_linked {token_sha256, key, order}`` in the same transaction: HQ
answers the guest from it. A refusal (unknown table, out of stock, the seating's cap) is
refused like any change (``sync.change_rejected`` with the reason), which HQ answers with.
"""

from __future__ import annotations

import hashlib
from typing import Any
from zoneinfo import ZoneInfo

from common.http.body import canonical_json

from edge.db.group_commit import Tx
from edge.tables import rules
from edge.tables.guest_writes import place_guest_order
from edge.tables.settings import TableSettings
from edge.tables.sql import token_hash


def apply_guest_order(tx: Tx, data: dict[str, Any], tz: ZoneInfo,
                      limits: TableSettings = TableSettings()) -> None:
    body = data["body"]
    digest = hashlib.sha256(canonical_json(body)).hexdigest()  # as the LAN route hashes it
    try:
        order, _ = place_guest_order(tx, data["token"], body, data["idempotency_key"], digest,
                                     tz, limits)
    except BaseException:
        tx.cache.clear()  # the savepoint is rolled back: what the cache read may not hold
        raise
    tx.emit("guest.order_linked", {"token_sha256": token_hash(data["token"]),
                                   "key": data["idempotency_key"],
                                   "order": rules.guest_order(order)})
