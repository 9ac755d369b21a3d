"""A KR-CU style lock board (frames in ``krcu.py``) over a serial or TCP link."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from drivers.locker import krcu
from drivers.locker.base import BoardGarbage, DoorState, LockerError, LockRefused
from drivers.locker.link import ByteLink, SerialLink, TcpLink


class KrcuBoard:
    """One board at ``address`` on a link. Requests go one at a time; after any fault the
    link is closed and opened again for the next request, so a late or partial answer
    never leaks into the next one."""

    def __init__(self, connect: Callable[[], Awaitable[ByteLink]], *, address: int = 1,
                 compartments: int = 16, timeout_s: float = 0.5) -> None:
        if not 0 <= address <= 0xFF:
            raise ValueError(f"board address {address} outside 0..255")
        self._connect = connect
        self.address = address
        self.compartments = compartments
        self.timeout_s = timeout_s
        self._link: ByteLink | None = None
        self._lock = asyncio.Lock()

    async def open(self, n: int) -> None:
        self._check(n)
        reply = await self._transact(krcu.open_request(self.address, n), 5)
        if krcu.parse_door_reply(reply, krcu.STX_OPEN, self.address, n) != "open":
            raise LockRefused(f"lock {n} of board {self.address} did not release")

    async def door(self, n: int) -> DoorState:
        self._check(n)
        reply = await self._transact(krcu.read_request(self.address, n), 5)
        return krcu.parse_door_reply(reply, krcu.STX_READ, self.address, n)

    async def keypad(self) -> str | None:
        async with self._lock:
            link = await self._ready()
            try:
                await link.write(krcu.keypad_request(self.address))
                head = await link.read(3, self.timeout_s)
                if head[0] != krcu.STX_KEYPAD or head[2] > krcu.MAX_CODE:
                    raise BoardGarbage(f"bad keypad reply {head.hex(' ')}")
                frame = head + await link.read(head[2] + 1, self.timeout_s)
                code = krcu.parse_keypad_reply(frame, self.address)
            except LockerError:
                await self._drop()
                raise
        return code or None

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _transact(self, request: bytes, size: int) -> bytes:
        async with self._lock:
            link = await self._ready()
            try:
                await link.write(request)
                return await link.read(size, self.timeout_s)
            except LockerError:
                await self._drop()
                raise

    async def _ready(self) -> ByteLink:
        if self._link is None:
            self._link = await self._connect()
        return self._link

    async def _drop(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    def _check(self, n: int) -> None:
        if not 1 <= n <= self.compartments:
            raise ValueError(f"compartment {n} outside 1..{self.compartments}")


def serial_board(port: str, *, baudrate: int = 19200, address: int = 1,
                 compartments: int = 16, timeout_s: float = 0.5) -> KrcuBoard:
    async def connect() -> ByteLink:
        return SerialLink(port, baudrate)

    return KrcuBoard(connect, address=address, compartments=compartments, timeout_s=timeout_s)


def network_board(host: str, port: int, *, address: int = 1, compartments: int = 16,
                  timeout_s: float = 0.5) -> KrcuBoard:
    async def connect() -> ByteLink:
        return await TcpLink.connect(host, port, max(timeout_s, 1.0))

    return KrcuBoard(connect, address=address, compartments=compartments, timeout_s=timeout_s)
