"""A printer on a serial line (RS-232, or a USB-serial adapter) through pyserial."""

from __future__ import annotations

from typing import Any

from drivers.printer.base import PrinterError
from drivers.printer.config import PrinterConfig


class SerialTransport:
    can_read = True

    def __init__(self, config: PrinterConfig) -> None:
        self.path, self.baudrate, self.timeout = config.path, config.baudrate, config.timeout_s
        self._port: Any = None

    def open(self) -> None:
        import serial  # pyserial, imported when a serial printer is used

        try:
            self._port = serial.Serial(self.path, self.baudrate, timeout=self.timeout,
                                       write_timeout=self.timeout)
        except (serial.SerialException, OSError) as exc:
            raise PrinterError("offline", f"cannot open {self.path}: {exc}") from exc

    def write(self, data: bytes) -> None:
        import serial

        try:
            self._open_port().write(data)
            self._open_port().flush()
        except (serial.SerialException, OSError) as exc:  # SerialTimeoutException too
            raise PrinterError("io", f"write to {self.path}: {exc}") from exc

    def read(self, size: int, timeout: float) -> bytes:
        import serial

        port = self._open_port()
        port.timeout = timeout
        try:
            return bytes(port.read(size))
        except (serial.SerialException, OSError) as exc:
            raise PrinterError("io", f"read from {self.path}: {exc}") from exc

    def close(self) -> None:
        if self._port is not None:
            self._port.close()
            self._port = None

    def _open_port(self) -> Any:
        if self._port is None:
            raise PrinterError("io", "not open")
        return self._port
