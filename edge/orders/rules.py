"""Order rules: the status machine and server-side pricing in integer fen."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from common.errors import Conflict, DomainError
from common.price_rules import minute_of_week

# unit_price lives with the price rules now; re-exported for the order code that prices lines
from common.price_book import RuleBook, unit_price as unit_price

# status -> statuses it may move to
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "placed": frozenset({"accepted", "cancelled"}),
    "accepted": frozenset({"preparing", "cancelled"}),
    "preparing": frozenset({"ready", "cancelled"}),
    "ready": frozenset({"completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
STATUSES: Final[tuple[str, ...]] = tuple(TRANSITIONS)
RESTORES_STOCK: Final[frozenset[str]] = frozenset({"cancelled"})



def check_transition(current: str, target: str) -> None:
    if target not in TRANSITIONS:
        raise DomainError("invalid_status", {"to": target, "allowed": list(STATUSES)})
    if target not in TRANSITIONS[current]:
        raise Conflict(
            "invalid_transition",
            {"from": current, "to": target, "allowed": sorted(TRANSITIONS[current])},
        )


class PricedLine(NamedTuple):  # a NamedTuple: built for every line of every order, 2x faster
    line_no: int
    sku: str
    name: str
    qty: int
    unit_cents: int
    total_cents: int
    station: str
    note: str | None
    price_rule: str | None = None  # the time-window price rule that set unit_cents


def price_lines(
    items: Mapping[str, Mapping[str, Any]],
    lines: Iterable[Mapping[str, Any]],
    channel: str,
    book: RuleBook | None = None,
    local: datetime | None = None,
) -> list[PricedLine]:
    """Price each requested line from the catalog (``items`` keyed by sku), and by the
    time-window price rules of ``book`` at the shop-local moment ``local``."""
    priced = []
    minute = minute_of_week(local) if book and local is not None else None
    for n, line in enumerate(lines, start=1):
        item = items[line["sku"]]
        unit, rule = unit_price(item, channel), None
        if minute is not None:
            assert book is not None
            unit, rule = book.best(line["sku"], item.get("category"), channel, minute, unit)
        priced.append(
            PricedLine(
                line_no=n,
                sku=line["sku"],
                name=item["name"],
                qty=line["qty"],
                unit_cents=unit,
                total_cents=unit * line["qty"],
                station=item["station"],
                note=line.get("note"),
                price_rule=rule,
            )
        )
    return priced


def quantities_by_sku(lines: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for line in lines:
        totals[line["sku"]] = totals.get(line["sku"], 0) + int(line["qty"])
    return totals


def stations_of(lines: Iterable[PricedLine]) -> list[str]:
    return sorted({line.station for line in lines})
