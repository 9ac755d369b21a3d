"""A fake ESC/POS printer for tests, benchmarks and bench-top checks: the wire protocol of a
real one over TCP (port 9100 style) or the master side of a pty (a serial printer).

It records the job bytes it receives, answers DLE EOT status queries from :attr:`status`, and
can misbehave on purpose: accept and then never read (``stall``), close a connection after
some bytes, once (``close_after``), keep quiet to status queries (``answer = False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable

from drivers.printer import status as st

QUERY = re.compile(rb"\x10\x04([\x01-\x04])")


class FakePrinterCore:
    """What any fake printer does with the bytes it reads."""

    def __init__(self, status: st.PrinterStatus | None = None) -> None:
        self.status = status or st.PrinterStatus()
        self.answer = True
        self.garbage = False  # answer status queries with 0xFF, which is no status byte
        self.received = bytearray()  # job bytes, status queries taken out
        self.arrivals: list[tuple[float, bytes]] = []  # (time.monotonic(), chunk) per read
        self.changed = asyncio.Event()
        self._tail = b""

    def feed(self, chunk: bytes, reply: Callable[[bytes], None]) -> None:
        data = self._tail + chunk
        self._tail = b""
        if data.endswith((b"\x10", b"\x10\x04")):  # a query split across reads
            cut = 1 if data.endswith(b"\x10") else 2
            data, self._tail = data[:-cut], data[-cut:]
        answers = bytearray()

        def take(query: re.Match[bytes]) -> bytes:
            answers.append(st.answer(self.status, query.group(1)[0]))
            return b""

        job = QUERY.sub(take, data)
        if job:
            self.received += job
            self.arrivals.append((time.monotonic(), job))
            self.changed.set()
        if answers and self.answer:
            reply(b"\xff" * len(answers) if self.garbage else bytes(answers))

    async def wait_for(self, needle: bytes, count: int = 1, timeout: float = 10) -> None:
        """Until ``needle`` was received ``count`` times."""
        async with asyncio.timeout(timeout):
            while self.received.count(needle) < count:
                self.changed.clear()
                await self.changed.wait()


class FakeNetworkPrinter(FakePrinterCore):
    """``async with FakeNetworkPrinter() as p:`` listens on 127.0.0.1:``p.port``."""

    def __init__(self, status: st.PrinterStatus | None = None, port: int = 0) -> None:
        super().__init__(status)
        self.port = port
        self.stall = False  # accept connections, never read from them
        self.close_after: int | None = None  # close the next connection after this many bytes
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping = asyncio.Event()

    async def start(self) -> FakeNetworkPrinter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._stopping.set()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def __aenter__(self) -> FakeNetworkPrinter:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        taken = 0
        try:
            if self.stall:
                await self._stopping.wait()  # hold the connection open, read nothing
            while chunk := await reader.read(65536):
                if self.close_after is not None and taken + len(chunk) >= self.close_after:
                    self.feed(chunk[:self.close_after - taken], lambda b: None)
                    self.close_after = None  # once: the printer is plugged in again
                    return
                taken += len(chunk)
                self.feed(chunk, writer.write)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()


class FakeSerialPrinter(FakePrinterCore):
    """The printer end of a pty: point a serial printer's ``path`` at :attr:`path`."""

    def __init__(self, status: st.PrinterStatus | None = None) -> None:
        super().__init__(status)
        self._master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        import tty

        tty.setraw(self._slave)  # no echo, no line discipline: bytes pass as they are
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> FakeSerialPrinter:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_readable)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._master)
            self._loop = None
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._master, 65536)
        except OSError:
            return
        self.feed(chunk, self._reply)

    def _reply(self, data: bytes) -> None:
        os.write(self._master, data)
