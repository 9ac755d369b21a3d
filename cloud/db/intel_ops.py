"""``CloudDb``'s HQ intelligence reads: partner settlement figures and the channel report
(SQL in ``settlement.py`` and ``channels.py``); each holds the instance's lock."""

from __future__ import annotations

import threading
from typing import Any

from . import settlement
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

