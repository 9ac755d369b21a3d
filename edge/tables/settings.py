"""``[tables]`` and ``[guest]`` in edge.toml (validated in edge/config.py's SCHEMA)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSettings:
    self_open: bool = True  # a guest's first order opens a free table's session
    base_url: str = ""  # printed in the table QR codes, e.g. http://192.168.1.10:8080
    max_orders_per_min: int = 10  # guest orders per table and minute (429 slow_down beyond)
    max_open_orders: int = 5  # guest orders of one session not yet ready (409 beyond)
    max_calls_per_min: int = 6  # guest calls (waiter, bill, water) per table and minute
