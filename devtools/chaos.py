"""A TCP proxy that misbehaves on purpose: delays, black-holes and cuts connections.

It runs its own event loop on a thread, so sync and async tests (and child
processes connecting to it) can use it alike. ``with ChaosProxy(port) as proxy:``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from types import TracebackType

from devtools.helpers import free_port


class ChaosProxy:
    def __init__(self, target_port: int, *, seed: int = 7) -> None:
        self.target_port, self.port = target_port, free_port()
        self.delay_s = 0.0          # added before forwarding each chunk
        self.blackhole = False      # read and discard: the peer sees silence, not a close
        self.cut_after_bytes: int | None = None  # cut a connection after this many bytes up
        self.refuse = False         # close new connections at once
        self.cuts = 0
        self.random = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="chaos-proxy")
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> ChaosProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self) -> None:
        """Close every open connection now (both sides see a reset)."""
        self._call(self._cut())

    def _call(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut()
        # the connections' handlers end with their sockets; none is left for the loop's close
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _cut(self) -> None:
        for writer in list(self._conns):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._conns.clear()
        self.cuts += 1

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refuse:
            client_w.transport.abort()
            return
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._conns.update((client_w, server_w))
        up = asyncio.create_task(self._pipe(client_r, server_w, count_up=True))
        down = asyncio.create_task(self._pipe(server_r, client_w, count_up=False))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, server_w):
            self._conns.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    count_up: bool) -> None:
        sent = 0
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            if self.delay_s:
                await asyncio.sleep(self.delay_s * (0.5 + self.random.random()))
            if self.blackhole:
                continue
            if count_up and self.cut_after_bytes is not None \
                    and sent + len(chunk) > self.cut_after_bytes:
                keep = max(0, self.cut_after_bytes - sent)
                writer.write(chunk[:keep])  # half a packet, then the line goes dead
                await writer.drain()
                self.cuts += 1
                return
            sent += len(chunk)
            writer.write(chunk)
            await writer.drain()
