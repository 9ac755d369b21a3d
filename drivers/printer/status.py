"""ESC/POS real-time status (DLE EOT n) and what its answer bytes mean.

Each answer is one byte whose bits 1 and 4 are set and bits 0 and 7 clear (``b & 0x93 ==
0x12``); anything else is not a status byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DLE_EOT: Final = b"\x10\x04"
PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER = 1, 2, 3, 4
QUERIES: Final = (PRINTER, OFFLINE_CAUSE, PAPER)  # what a status check asks, in this order

# (query, bit mask) -> what a set bit means
BITS: Final[dict[str, tuple[int, int]]] = {
    "offline": (PRINTER, 0x08),
    "cover_open": (OFFLINE_CAUSE, 0x04),
    "stopped_paper_end": (OFFLINE_CAUSE, 0x20),
    "error": (OFFLINE_CAUSE, 0x40),
    "paper_low": (PAPER, 0x0C),
    "paper_out": (PAPER, 0x60),
}
# a printer state, most serious first: the first whose flag is set names the state
STATES: Final = ("cover_open", "paper_out", "error", "offline", "paper_low")
PRINTABLE: Final = frozenset({"ok", "paper_low"})


def query(n: int) -> bytes:
    return DLE_EOT + bytes([n])


def is_status_byte(value: int) -> bool:
    return value & 0x93 == 0x12


@dataclass(frozen=True)
class PrinterStatus:
    offline: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_low: bool = False
    error: bool = False

    @property
    def state(self) -> str:
        for name in STATES:
            if getattr(self, name):
                return name
        return "ok"

    @property
    def printable(self) -> bool:
        return self.state in PRINTABLE


def parse(answers: dict[int, int]) -> PrinterStatus:
    """The status from the answer byte to each query in :data:`QUERIES`.

    Raises ``ValueError`` for a byte that is not a status byte (a printer answering garbage)."""
    for n, value in answers.items():
        if not is_status_byte(value):
            raise ValueError(f"DLE EOT {n}: 0x{value:02x} is not a status byte")
    flags = {name: bool(answers.get(n, 0x12) & mask) for name, (n, mask) in BITS.items()}
    return PrinterStatus(
        offline=flags["offline"], cover_open=flags["cover_open"],
        paper_out=flags["paper_out"] or flags["stopped_paper_end"],
        paper_low=flags["paper_low"], error=flags["error"],
    )


def answer(status: PrinterStatus, n: int) -> int:
    """The byte a printer in ``status`` answers to DLE EOT ``n`` (what fakes reply)."""
    value = 0x12
    for name, (query_n, mask) in BITS.items():
        flag = {"stopped_paper_end": status.paper_out}.get(name, getattr(status, name, False))
        if query_n == n and flag:
            value |= mask
    if n == PRINTER and not status.printable:
        value |= BITS["offline"][1]
    return value
