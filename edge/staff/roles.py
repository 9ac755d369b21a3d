"""Staff roles and what each may do, declared as data (the channels are common vocabulary)."""

from __future__ import annotations

from typing import Final

ROLES: Final[tuple[str, ...]] = ("cashier", "kitchen", "manager", "technician")

_ALL = frozenset(ROLES)
# permission -> roles that hold it
PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "catalog.read": _ALL,
    "catalog.write": frozenset({"manager"}),
    "orders.read": _ALL,
    "orders.create": frozenset({"cashier", "manager"}),
    "inventory.read": _ALL,
    "inventory.write": frozenset({"manager"}),
    "events.read": _ALL,
    "metrics.read": frozenset({"manager", "technician"}),
    "members.read": frozenset({"cashier", "manager"}),
    "members.write": frozenset({"cashier", "manager"}),
    "members.topup": frozenset({"manager"}),
    "orders.reprint": frozenset({"cashier", "manager"}),
    "orders.refund": frozenset({"manager"}),
    "devices.read": _ALL,
    "lockers.open": _ALL,
    "tables.read": _ALL,
    "tables.write": frozenset({"cashier", "manager"}),  # open, move, close, calls
    "tables.force_close": frozenset({"manager"}),  # close with unpaid orders
    "tables.manage": frozenset({"manager"}),  # add tables, rotate their tokens
    "pricing.read": _ALL,
    "pricing.write": frozenset({"manager"}),
    "reservations.read": _ALL,
    "reservations.write": frozenset({"cashier", "manager"}),  # book, move, arrive, seat, ...
    "reservations.manage": frozenset({"manager"}),  # lease booking capacity to HQ
    "waitlist.read": _ALL,
    "waitlist.write": frozenset({"cashier", "manager"}),  # issue, call, seat, skip, cancel
}

# machines, not staff (no PIN, no login, never in ROLES): a scrape key (storenode metrics-key)
SCRAPER: Final = "scraper"
MACHINE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {SCRAPER: frozenset({"metrics.read"})}

# target status -> roles allowed to move an order there
TRANSITION_ROLES: Final[dict[str, frozenset[str]]] = {
    "accepted": frozenset({"cashier", "kitchen", "manager"}),
    "preparing": frozenset({"cashier", "kitchen", "manager"}),
    "ready": frozenset({"cashier", "kitchen", "manager"}),
    "completed": frozenset({"cashier", "manager"}),
    "cancelled": frozenset({"manager"}),
}


def role_may(role: str, permission: str) -> bool:
    return (role in PERMISSIONS.get(permission, frozenset())
            or permission in MACHINE_PERMISSIONS.get(role, frozenset()))
