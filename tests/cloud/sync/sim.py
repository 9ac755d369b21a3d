"""An edge-like event source: realistic outbox events of one store, and ``up`` payloads.

Orders carry their stock deltas in ``order.placed`` (``data.stock``), as the protocol
allows; ``expected_stock`` is what the cloud must end with after applying every event once.
"""

from __future__ import annotations

from typing import Any

from sync import messages

SKUS = ("C001", "C002", "S001", "T010")
STATUSES = ("accepted", "preparing", "ready", "completed")


class EdgeSim:
    def __init__(self, store: str, day: str = "2026-11-23") -> None:
        self.store, self.day = store, day
        self.events: list[dict[str, Any]] = []
        self.expected_stock: dict[str, int] = {}
        self.orders = 0

    def _at(self) -> str:
        n = len(self.events)
        return f"{self.day}T{2 + n // 3600 % 20:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"

    def emit(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        seq = len(self.events) + 1
        event = {"event_id": f"01J{self.store.upper():>10}{seq:013d}".replace(" ", "0"),
                 "store": self.store, "seq": seq, "type": type_, "v": 1, "at": self._at(),
                 "hlc": f"{1_790_000_000_000 + seq:013d}.00000", "data": data}
        self.events.append(event)
        return event

    def order(self, qty: int = 1, status_changes: int = 0) -> str:
        """Place an order of three lines (stock deltas inside), then move it along."""
        self.orders += 1
        order_id = f"01JORD{self.store.upper()}{self.orders:012d}"
        at = self._at()
        lines: list[dict[str, Any]] = [
            {"line_no": n, "sku": sku, "name": f"Item {sku} with a longer display name",
             "qty": qty + n - 1, "unit_cents": 1200 + n * 100,
             "total_cents": (qty + n - 1) * (1200 + n * 100), "station": "kitchen",
             "note": "less spicy, no coriander" if n == 1 else None}
            for n, sku in enumerate(SKUS[:3], 1)]
        order = {"id": order_id, "number": self.orders, "day": self.day, "channel": "pos",
                 "status": "placed", "total_cents": sum(ln["total_cents"] for ln in lines),
                 "member": None, "table": "A12", "pickup": False, "created_at": at,
                 "updated_at": at, "lines": lines, "stations": ["kitchen"]}
        stock = []
        for line in lines:
            on_hand = self.expected_stock.get(line["sku"], 0) - line["qty"]
            self.expected_stock[line["sku"]] = on_hand
            stock.append({"sku": line["sku"], "delta": -line["qty"], "on_hand": on_hand})
        self.emit("order.placed", {"order": order, "stock": stock})
        previous = "placed"
        for status in STATUSES[:status_changes]:
            order = {**order, "status": status, "updated_at": self._at()}
            self.emit("order.status_changed", {"order": order, "from": previous, "to": status})
            previous = status
        return order_id

    def move(self, sku: str, delta: int, reason: str = "receipt") -> None:
        on_hand = self.expected_stock.get(sku, 0) + delta
        self.expected_stock[sku] = on_hand
        self.emit("stock.moved", {"sku": sku, "delta": delta, "reason": reason, "ref": None,
                                  "on_hand": on_hand})

    def fill(self, n: int) -> None:
        """Append about ``n`` events of the usual mix (orders, status changes, receipts)."""
        target = len(self.events) + n
        while len(self.events) < target:
            self.order(status_changes=min(2, target - len(self.events) - 1))
            if self.orders % 10 == 0 and len(self.events) < target:
                self.move("T010", 5)

    def payload(self, first: int, last: int) -> bytes:
        """The ``up`` payload of seqs ``first..last``."""
        return messages.encode(messages.up_batch(self.store, self.events[first - 1:last]))

    def payloads(self, size: int) -> list[bytes]:
        return [self.payload(first, min(first + size - 1, len(self.events)))
                for first in range(1, len(self.events) + 1, size)]
