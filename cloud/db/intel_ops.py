"""``CloudDb``'s HQ intelligence reads: partner settlement figures and the channel report
(SQL in ``settlement.py`` and ``channels.py``); each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from . import channels, settlement
from .backend import Backend
from .reads import require_store


class IntelOps:
    _db: Backend
    _lock: threading.RLock

    def settlement_figures(self, a: str, b: str, first: str, after: str,
                           skus: list[str]) -> dict[str, Any]:
        """Figures of stores ``a`` and ``b`` for days ``first`` <= day < ``after``."""
        with self._lock:
            for store in (a, b):
                require_store(self._db, store)
            return settlement.figures(self._db, a, b, first, after, skus)


    def channel_figures(self, start: str, end: str, store: str | None,
                        as_of_epoch: float) -> tuple[dict[tuple[str, str], dict[str, Any]],
                                                     dict[tuple[str, str], int]]:
        """Per (store, channel) figures for ``start`` <= created_at < ``end``, and item costs."""
        with self._lock:
            if store is not None:
                require_store(self._db, store)
            return channels.figures(self._db, start, end, store, as_of_epoch)
