"""The printer capability: one Protocol for the coordinator, one for the byte pipes under it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from drivers.printer.status import PrinterStatus

# why a job could not be printed: the printer's own report, or what the pipe saw
REASONS = ("offline", "paper_out", "cover_open", "error", "no_answer", "io")


class PrinterError(Exception):
    """A job was not printed. ``reason`` is one of :data:`REASONS`; ``printed``: how many of
    the jobs of that send the printer had confirmed before it failed."""

    def __init__(self, reason: str, detail: str = "", printed: int = 0) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.printed = reason, detail, printed


class Transport(Protocol):
    """A byte pipe to one printer: TCP, serial line, USB endpoint pair or a file.

    Blocking; the caller runs it in a thread. ``can_read`` is False where the printer cannot
    answer (a plain file), and then nothing asks it for its status."""

    can_read: bool

    def open(self) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, size: int, timeout: float) -> bytes:
        """Up to ``size`` bytes; ``b""`` when nothing came within ``timeout`` seconds."""
        ...

    def close(self) -> None: ...


class Printer(Protocol):
    """What the print coordinator uses. Blocking: call it through ``asyncio.to_thread``."""

    name: str

    def status(self) -> PrinterStatus | None:
        """The printer's real-time status, ``None`` when the backend cannot tell.

        Raises :class:`PrinterError` when the printer cannot be reached or does not answer."""
        ...

    def send(self, jobs: Sequence[bytes],
             ready: Callable[[], None] | None = None) -> PrinterStatus | None:
        """Print ``jobs`` in order: refuse (``PrinterError``) before sending a byte when the
        printer reports it cannot print; call ``ready()`` right before the first byte goes
        out; after each job, confirm that the printer took its bytes.
        Returns the status read after the job (``None`` when the backend cannot tell)."""
        ...

    def abort(self) -> None:
        """Break off a status check or job in progress (from another thread, at shutdown):
        what waits for the printer raises ``PrinterError`` soon after."""
        ...
