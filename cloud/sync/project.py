"""Projections of upstream events into the cloud's tables (docs/sync-protocol.md, last table).

``Projection.add(event)`` turns events, in seq order, into rows per statement; ``write``
then runs one batched statement per table. Rows are folded where the result is the same:
stock deltas are summed per SKU (addition commutes), a status change of an order placed in
the same batch edits the row to insert, and only the last item/quota version per SKU is
upserted. An event whose data cannot be projected is still stored and becomes a conflict
record (``invalid_event``) that HQ sees, never a failed batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from cloud.db.backend import Backend
from cloud.feed.changes import compact_json
from cloud.members import events as member_events
from common.vocabulary import MEMBER_SOUGHT, OLD_BOX

ORDER_COLUMNS: Final = ("store", "id", "number", "day", "channel", "status", "total_cents",
                        "member", "table_no", "pickup", "created_at", "updated_at", "seq")
LINE_COLUMNS: Final = ("store", "order_id", "line_no", "sku", "name", "qty", "unit_cents",
                       "total_cents", "station", "note", "price_rule")


_BIGINT: Final[int] = 1 << 63
_BIGINT_MAX: Final[int] = _BIGINT - 1
_INTEGER: Final[int] = 1 << 31  # orders.number, order_lines.line_no and qty


def _insert(table: str, columns: tuple[str, ...], tail: str = "") -> str:
    return (f"INSERT INTO {table}({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}){tail}")


# projection table -> statement; run in this order (orders before their status updates)
STATEMENTS: Final[dict[str, str]] = {
    # the lines of the orders this statement inserted, and only those: an order is placed
    # once, and a second order.placed of it changes nothing (no check of the lines' key)
    "orders": _insert("orders", ORDER_COLUMNS, " ON CONFLICT DO NOTHING RETURNING store, id"),
    "lines": _insert("order_lines", LINE_COLUMNS),
    # a sum past BIGINT leaves the row as it was and returns nothing: a conflict (write_all);
    # CASE, as SQL does not promise to evaluate AND's operands in order, so that neither
    # bound is computed for a delta of the other sign (it would overflow itself)
    "stock": _insert("stock", ("store", "sku", "on_hand", "updated_at"),
                     " ON CONFLICT (store, sku) DO UPDATE SET "
                     "on_hand = stock.on_hand + excluded.on_hand, updated_at = excluded.updated_at"
                     " WHERE CASE WHEN excluded.on_hand > 0"
                     f" THEN stock.on_hand <= {_BIGINT_MAX} - excluded.on_hand"
                     f" ELSE stock.on_hand >= (-{_BIGINT_MAX} - 1) - excluded.on_hand END"
                     " RETURNING store, sku"),
    "status": "UPDATE orders SET status = ?, updated_at = ? WHERE store = ? AND id = ?",
    "alerts": _insert("stock_alerts", ("store", "seq", "sku", "on_hand", "safety_stock", "at")),
    "items": _insert("store_items", ("store", "sku", "item", "seq", "updated_at"),
                     " ON CONFLICT (store, sku) DO UPDATE SET item = excluded.item, "
                     "seq = excluded.seq, updated_at = excluded.updated_at"),
    "quotas": _insert("store_quotas", ("store", "sku", "quotas", "seq"),
                      " ON CONFLICT (store, sku) DO UPDATE SET quotas = excluded.quotas, "
                      "seq = excluded.seq"),
    "conflicts": _insert("conflicts", ("store", "kind", "detail", "created_at")),
}


# projected afterwards, one by one with the tenant's member lock (member_events.py)
DEFERRED: Final = frozenset({"member.created", "member.identity_added",
                             "member.profile_changed", "member.lookup", "member.viewed",
                             "ledger.entry", "coupon.redeemed", "order.placed", "order.paid",
                             "lease.acked", "member.consent_changed", MEMBER_SOUGHT})


class ProjectionError(ValueError):
    """Event data of a known type that does not have the documented shape."""


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...],
         optional: bool = False, limit: int = _BIGINT) -> Any:
    """``data[key]`` of ``kind`` (None when ``optional`` and absent); an integer within
    ``-limit <= value < limit``: ``_BIGINT`` for a BIGINT column, ``_INTEGER`` for an
    INTEGER one (PostgreSQL refuses a larger value, and with it the whole batch)."""
    value = data.get(key)
    if type(value) is kind:  # the common case (a bool is not of type int: it goes on)
        if type(value) is not int or -limit <= value < limit:
            return value
        raise ProjectionError(f"{key} out of range")
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ProjectionError(f"{key} missing or of the wrong type")
    if isinstance(value, int) and not -limit <= value < limit:
        raise ProjectionError(f"{key} out of range")
    return value


class Projection:
    def __init__(self, store: str, now: str, superseded: bool = False) -> None:
        """``superseded``: the events of a box that was replaced (what they change for
        members goes to the store's current box too)."""
        self.store, self.now, self.superseded = store, now, superseded
        self.orders: dict[str, list[Any]] = {}
        self.lines: list[tuple[Any, ...]] = []
        self.status: dict[str, tuple[Any, ...]] = {}
        self.stock: dict[str, int] = {}
        self.alerts: list[tuple[Any, ...]] = []
        self.items: dict[str, tuple[Any, ...]] = {}
        self.quotas: dict[str, tuple[Any, ...]] = {}
        self.conflicts: list[tuple[Any, ...]] = []
        self.deferred: list[dict[str, Any]] = []

    def add(self, event: dict[str, Any]) -> None:
        if event["type"] in DEFERRED:
            self.deferred.append(event)
        project = PROJECTORS.get(event["type"])
        if project is None:
            return  # forward compatible: kept in `events` only
        try:
            project(self, event["seq"], event["data"])
        except ProjectionError as exc:
            detail = {"seq": event["seq"], "event_id": event["event_id"],
                      "type": event["type"], "error": str(exc)}
            self.conflicts.append((self.store, "invalid_event", compact_json(detail), self.now))

    def rows(self) -> dict[str, list[Any]]:
        """The rows of each of ``STATEMENTS``."""
        return {
            "orders": list(self.orders.values()),
            "lines": self.lines,
            "status": list(self.status.values()),
            "stock": [(self.store, sku, delta, self.now) for sku, delta in self.stock.items()],
            "alerts": self.alerts,
            "items": list(self.items.values()),
            "quotas": list(self.quotas.values()),
            "conflicts": self.conflicts,
        }

    def write(self, db: Backend) -> None:
        write_all(db, [self])
        self.project_members(db)

    def project_members(self, db: Backend, tenant: str | None = None,
                        shared: dict[str, Any] | None = None) -> None:
        """The member events (``DEFERRED``), after every projection's rows are written;
        ``tenant`` and ``shared``: what the caller knows and what batches applied together
        may share (member_events.project)."""
        if self.deferred:
            member_events.project(db, self.store, self.deferred, self.now, self.superseded,
                                  tenant=tenant, shared=shared)

    # -- one method per event type -------------------------------------------
    def order_placed(self, seq: int, data: dict[str, Any]) -> None:
        order = _get(data, "order", dict)
        order_id = _get(order, "id", str)
        lines = _get(order, "lines", list)
        moves = _get(data, "stock", list, optional=True) or []
        row = [self.store, order_id, _get(order, "number", int, True, _INTEGER),
               _get(order, "day", str, True), _get(order, "channel", str, True),
               _get(order, "status", str), _get(order, "total_cents", int),
               _get(order, "member", str, True), _get(order, "table", str, True),
               int(bool(order.get("pickup"))), _get(order, "created_at", str),
               _get(order, "updated_at", str), seq]
        line_rows = [self._line(order_id, n, line) for n, line in enumerate(lines, 1)]
        if len({line[2] for line in line_rows}) < len(line_rows):  # a line_no twice: the first
            first: dict[int, tuple[Any, ...]] = {}
            for line_row in line_rows:
                first.setdefault(line_row[2], line_row)
            line_rows = list(first.values())
        sums = self._sums([self._delta(move) for move in moves])
        if order_id not in self.orders:  # a second order.placed of the same id changes nothing
            self.orders[order_id] = row
            self.lines.extend(line_rows)
        self.stock.update(sums)

    def _line(self, order_id: str, n: int, line: Any) -> tuple[Any, ...]:
        if not isinstance(line, dict):
            raise ProjectionError("order line is not an object")
        line_no = _get(line, "line_no", int, True, _INTEGER)
        return (self.store, order_id, n if line_no is None else line_no, _get(line, "sku", str),
                _get(line, "name", str, True), _get(line, "qty", int, limit=_INTEGER),
                _get(line, "unit_cents", int, True), _get(line, "total_cents", int, True),
                _get(line, "station", str, True), _get(line, "note", str, True),
                _get(line, "price_rule", str, True))

    @staticmethod
    def _delta(move: Any) -> tuple[str, int]:
        if not isinstance(move, dict):
            raise ProjectionError("stock entry is not an object")
        return _get(move, "sku", str), _get(move, "delta", int)

    def _sums(self, deltas: list[tuple[str, int]]) -> dict[str, int]:
        """The batch's stock sums of the SKUs ``deltas`` move, with them added: not yet
        stored, as an event whose sum would pass 64 bits is a conflict and changes nothing
        (PostgreSQL would refuse the sum, and with it the whole batch)."""
        sums: dict[str, int] = {}
        for sku, delta in deltas:
            total = sums.get(sku, self.stock.get(sku, 0)) + delta
            if not -_BIGINT <= total < _BIGINT:
                raise ProjectionError(f"stock of {sku} out of range")
            sums[sku] = total
        return sums

    def order_status_changed(self, seq: int, data: dict[str, Any]) -> None:
        order = _get(data, "order", dict)
        order_id = _get(order, "id", str)
        status = _get(data, "to", str, True) or _get(order, "status", str)
        updated_at = _get(order, "updated_at", str)
        placed = self.orders.get(order_id)
        if placed is not None:  # placed in this same batch: insert it with its new status
            placed[ORDER_COLUMNS.index("status")] = status
            placed[ORDER_COLUMNS.index("updated_at")] = updated_at
        else:
            self.status[order_id] = (status, updated_at, self.store, order_id)

    def stock_moved(self, seq: int, data: dict[str, Any]) -> None:
        sku, delta = self._delta(data)
        if data.get("reason") == OLD_BOX:  # a superseded box's sale HQ counted when it came
            return
        self.stock.update(self._sums([(sku, delta)]))

    def stock_low(self, seq: int, data: dict[str, Any]) -> None:
        self.alerts.append((self.store, seq, _get(data, "sku", str),
                            _get(data, "on_hand", int, True),
                            _get(data, "safety_stock", int, True), self.now))

    def catalog_item_changed(self, seq: int, data: dict[str, Any]) -> None:
        item = _get(data, "item", dict)
        sku = _get(item, "sku", str)
        self.items[sku] = (self.store, sku, compact_json(item), seq, self.now)
        if item.get("track_stock", True):
            self.stock.setdefault(sku, 0)  # a tracked item has a stock row, as on the edge

    def quotas_changed(self, seq: int, data: dict[str, Any]) -> None:
        sku = _get(data, "sku", str)
        self.quotas[sku] = (self.store, sku, compact_json(_get(data, "quotas", dict)), seq)


PROJECTORS: Final[dict[str, Callable[[Projection, int, dict[str, Any]], None]]] = {
    "order.placed": Projection.order_placed,
    "order.status_changed": Projection.order_status_changed,
    "stock.moved": Projection.stock_moved,
    "stock.low": Projection.stock_low,
    "catalog.item_changed": Projection.catalog_item_changed,
    "inventory.quotas_changed": Projection.quotas_changed,
}


def write_all(db: Backend, projections: list[Projection]) -> None:
    """One statement a table for the rows of all ``projections`` (of distinct stores: an
    upsert statement must not meet the same key twice), in the order of ``STATEMENTS``."""
    merged: dict[str, list[Any]] = {name: [] for name in STATEMENTS}
    for projection in projections:
        for name, rows in projection.rows().items():
            merged[name] += rows
    placed = set(db.insert_returning(STATEMENTS["orders"], merged["orders"]))
    db.copy_many(STATEMENTS["lines"], [row for row in merged["lines"]
                                       if (row[0], row[1]) in placed])
    moved = set(db.insert_returning(STATEMENTS["stock"], merged["stock"]))
    merged["conflicts"] += [  # a stored sum and the batch's that together pass 64 bits
        (store, "stock_overflow", compact_json({"sku": sku, "delta": delta,
                                                "error": "stock sum out of range"}), now)
        for store, sku, delta, now in merged["stock"] if (store, sku) not in moved]
    for name, sql in STATEMENTS.items():
        if name in ("orders", "lines", "stock"):
            continue
        if sql.startswith("INSERT"):
            db.insert_many(sql, merged[name])
        else:
            db.update_many(sql, merged[name])
