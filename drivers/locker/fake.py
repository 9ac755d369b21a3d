"""An in-memory lock board with the same Protocol: for ``make run`` without hardware and
for tests of the coordinator. A door opened by ``open`` closes by itself after
``auto_close_s`` (someone took the bag and shut it), or when ``shut`` is called."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from drivers.locker.base import BoardUnavailable, DoorState, LockerError


class FakeBoard:
    def __init__(self, compartments: int = 16, *, auto_close_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.compartments = compartments
        self.auto_close_s = auto_close_s
        self._clock = clock
        self._opened: dict[int, float] = {}  # compartment -> when it was opened
        self._codes: deque[str] = deque()
        self.opens: list[int] = []  # every successful open, in order
        self.failure: LockerError | None = None  # set to make every call fail like that
        self.closed = False

    async def open(self, n: int) -> None:
        self._check(n)
        self._opened[n] = self._clock()
        self.opens.append(n)

    async def door(self, n: int) -> DoorState:
        self._check(n)
        opened = self._opened.get(n)
        if opened is None:
            return "closed"
        if self._clock() - opened >= self.auto_close_s:
            del self._opened[n]
            return "closed"
        return "open"

    async def keypad(self) -> str | None:
        self._check(1)
        return self._codes.popleft() if self._codes else None

    async def close(self) -> None:
        self.closed = True

    # -- what a person at the bank does --------------------------------
    def type_code(self, code: str) -> None:
        self._codes.append(code)

    def shut(self, n: int) -> None:
        self._opened.pop(n, None)

    def _check(self, n: int) -> None:
        if self.failure is not None:
            raise self.failure
        if self.closed:
            raise BoardUnavailable("fake board closed")
        if not 1 <= n <= self.compartments:
            raise ValueError(f"compartment {n} outside 1..{self.compartments}")
