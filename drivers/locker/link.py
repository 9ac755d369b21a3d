"""Byte links to a lock board: an RS-485 serial port (pyserial) or a TCP serial server.

Both are driven by the event loop (the serial port's fd is non-blocking and watched with
``add_reader``), so no thread is started per board.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

from drivers.locker.base import BoardTimeout, BoardUnavailable


class ByteLink(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def read(self, n: int, timeout: float) -> bytes:
        """Exactly ``n`` bytes, or :class:`BoardTimeout` with what came so far."""

    async def close(self) -> None: ...


class SerialLink:
    """A serial port such as ``/dev/ttyUSB0`` (a USB RS-485 adapter)."""

    def __init__(self, port: str, baudrate: int = 19200) -> None:
        import serial  # pyserial

        try:
            self._serial: Any = serial.Serial(port, baudrate, timeout=0, write_timeout=1)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise BoardUnavailable(f"cannot open {port}: {exc}") from exc
        self.port = port
        self._buffer = bytearray()
        self._arrived = asyncio.Event()
        self._failure: Exception | None = None
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._serial.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = self._serial.read(4096)
        except Exception as exc:  # noqa: BLE001 - pyserial raises SerialException or OSError
            self._failure = exc
            self._loop.remove_reader(self._serial.fileno())
            data = b""
        self._buffer += data
        self._arrived.set()

    async def write(self, data: bytes) -> None:
        self._raise_failure()
        try:
            self._serial.write(data)
        except Exception as exc:  # noqa: BLE001
            raise BoardUnavailable(f"{self.port}: write failed: {exc}") from exc

    async def read(self, n: int, timeout: float) -> bytes:
        deadline = self._loop.time() + timeout
        while len(self._buffer) < n:
            self._raise_failure()
            left = deadline - self._loop.time()
            if left <= 0:
                raise BoardTimeout(f"{self.port}: {len(self._buffer)} of {n} bytes in "
                                   f"{timeout:.1f} s: {bytes(self._buffer).hex(' ')}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout keeps a cancellation
                async with asyncio.timeout(left):
                    await self._arrived.wait()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise BoardUnavailable(f"{self.port}: {self._failure}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._serial.fileno())
        self._serial.close()


class TcpLink:
    """A lock board behind an RS-485-to-Ethernet converter (raw TCP, e.g. port 4001)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 where: str) -> None:
        self._reader, self._writer, self.where = reader, writer, where

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float) -> TcpLink:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError) as exc:
            raise BoardUnavailable(f"cannot connect to {host}:{port}: {exc!r}") from exc
        return cls(reader, writer, f"{host}:{port}")

    async def write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await self._writer.drain()
        except OSError as exc:
            raise BoardUnavailable(f"{self.where}: {exc}") from exc

    async def read(self, n: int, timeout: float) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.readexactly(n)
        except TimeoutError as exc:
            raise BoardTimeout(f"{self.where}: no answer in {timeout:.1f} s") from exc
        except asyncio.IncompleteReadError as exc:
            raise BoardUnavailable(f"{self.where}: connection closed") from exc
        except OSError as exc:
            raise BoardUnavailable(f"{self.where}: {exc}") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
