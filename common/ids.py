"""ULIDs for order ids and outbox event ids, monotonic within this process.

The same values ``str(ulid.ULID())`` gives (48-bit ms timestamp, 80 random bits,
Crockford base32, the random part incremented within one millisecond) at about a
third of its cost: every order makes two of them on the writer thread.
"""

from __future__ import annotations

import os
import threading
import time

_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]  # 10 bits -> two digits
_MAX_RANDOM = (1 << 80) - 1


def _encode_random(r: int, p: list[str] = _PAIRS) -> str:
    """80 bits as 16 digits."""
    return (p[r >> 70 & 1023] + p[r >> 60 & 1023] + p[r >> 50 & 1023] + p[r >> 40 & 1023]
            + p[r >> 30 & 1023] + p[r >> 20 & 1023] + p[r >> 10 & 1023] + p[r & 1023])


def _encode_ms(ms: int) -> str:
    """48 bits as 10 digits (the first one carries the 2 bits of padding)."""
    return "".join(_DIGITS[ms >> shift & 31] for shift in range(45, -1, -5))


class UlidGenerator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = -1
        self._prefix = ""
        self._random = 0

    def new(self) -> str:
        ms = time.time_ns() // 1_000_000
        with self._lock:
            if ms == self._ms:
                if self._random == _MAX_RANDOM:
                    raise OverflowError("ULID random part exhausted within one millisecond")
                self._random += 1
            else:
                self._ms, self._prefix = ms, _encode_ms(ms)
                self._random = int.from_bytes(os.urandom(10), "big")
            return self._prefix + _encode_random(self._random)


new_ulid = UlidGenerator().new
