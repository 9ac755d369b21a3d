"""A printer on the LAN, raw TCP on port 9100 (JetDirect / AppSocket)."""

from __future__ import annotations

import contextlib
import socket

from drivers.printer.base import PrinterError
from drivers.printer.config import PrinterConfig


class NetworkTransport:
    can_read = True

    def __init__(self, config: PrinterConfig) -> None:
        self.address, self.timeout = config.host_port, config.timeout_s
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            self._sock = socket.create_connection(self.address, timeout=self.timeout)
        except OSError as exc:
            raise PrinterError("offline", f"cannot connect to {self.address}: {exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        try:
            self._conn().sendall(data)
        except OSError as exc:  # a timeout too: the printer stopped taking bytes
            raise PrinterError("io", f"send to {self.address}: {exc}") from exc

    def read(self, size: int, timeout: float) -> bytes:
        sock = self._conn()
        sock.settimeout(timeout)
        try:
            data = sock.recv(size)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise PrinterError("io", f"read from {self.address}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):  # closed by abort()
                sock.settimeout(self.timeout)
        if not data:
            raise PrinterError("offline", f"{self.address} closed the connection")
        return data

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):  # wakes a recv() in another thread
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _conn(self) -> socket.socket:
        if self._sock is None:
            raise PrinterError("io", "not open")
        return self._sock
