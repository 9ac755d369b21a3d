"""A printer that is a file: a kernel printer device (``/dev/usb/lp0``) or, for a shop with no
hardware and for demos, a plain file the tickets are appended to. It cannot answer."""

from __future__ import annotations

import os

from drivers.printer.base import PrinterError
from drivers.printer.config import PrinterConfig


class FileTransport:
    can_read = False

    def __init__(self, config: PrinterConfig) -> None:
        self.path = config.path
        self._fd: int | None = None

    def open(self) -> None:
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise PrinterError("offline", f"cannot open {self.path}: {exc}") from exc

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise PrinterError("io", "not open")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:  # ENOSPC, EIO of an unplugged lp device
            raise PrinterError("io", f"write to {self.path}: {exc}") from exc

    def read(self, size: int, timeout: float) -> bytes:
        return b""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
