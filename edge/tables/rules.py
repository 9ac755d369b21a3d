"""Table rules without I/O: ids, statuses, call kinds, what a guest may see, the rate window."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from common.schemas import TABLE_TOKEN

TABLE_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,15}$")  # fits an order's "table"
TOKEN: Final = TABLE_TOKEN  # secrets.token_urlsafe(24): 192 bits
TOKEN_BYTES: Final = 24
STATUSES: Final = ("free", "seated", "bill", "cleaning")
# status staff may set by hand -> whether the table must have an open session for it
MANUAL_STATUS: Final[dict[str, bool]] = {"free": False, "cleaning": False, "bill": True,
                                         "seated": True}
CALL_KINDS: Final = ("waiter", "bill", "water")
OPEN_STATUSES: Final = frozenset({"placed", "accepted", "preparing"})  # not yet ready
# the order fields a guest sees: never the member, the payment, the staff
GUEST_ORDER_FIELDS: Final = ("id", "number", "status", "total_cents", "table", "created_at",
                             "updated_at", "note")
GUEST_LINE_FIELDS: Final = ("sku", "name", "qty", "unit_cents", "total_cents", "note")


def guest_order(order: Mapping[str, Any]) -> dict[str, Any]:
    """An order as the guest's phone sees it."""
    view = {k: order[k] for k in GUEST_ORDER_FIELDS if k in order}
    view["lines"] = [{k: line.get(k) for k in GUEST_LINE_FIELDS} for line in order["lines"]]
    return view


def bill_total(orders: Iterable[Mapping[str, Any]]) -> int:
    """What the seating owes: every order of it but the cancelled ones."""
    return sum(int(o["total_cents"]) for o in orders if o["status"] != "cancelled")


def status_change_allowed(target: str, has_session: bool) -> bool:
    return target in MANUAL_STATUS and MANUAL_STATUS[target] == has_session
