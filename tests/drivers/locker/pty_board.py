"""A fake KR-CU lock board on a pseudo-terminal: the driver opens the pty's slave path with
pyserial and talks the real frames; this answers on the master side, in the test's loop."""

from __future__ import annotations

import asyncio
import os
import tty
from collections import deque

from drivers.locker import krcu


class PtyBoard:
    """``mode``: ``ok``; ``silent`` (never answers); ``garbage`` (answers noise);
    ``bad_checksum`` (a right frame with a wrong BCC); ``refuse`` (the lock stays shut)."""

    def __init__(self, address: int = 1, compartments: int = 4) -> None:
        self.address, self.compartments = address, compartments
        self.master, self._slave = os.openpty()
        tty.setraw(self.master)
        self.port = os.ttyname(self._slave)
        self.mode = "ok"
        self.doors = {n: "closed" for n in range(1, compartments + 1)}
        self.codes: deque[str] = deque()
        self.requests: list[bytes] = []
        self._buffer = b""
        os.set_blocking(self.master, False)
        asyncio.get_running_loop().add_reader(self.master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            self._buffer += os.read(self.master, 1024)
        except OSError:
            return
        while len(self._buffer) >= 5:
            frame, self._buffer = self._buffer[:5], self._buffer[5:]
            self.requests.append(frame)
            answer = self._answer(frame)
            if answer:
                os.write(self.master, answer)

    def _answer(self, frame: bytes) -> bytes:
        if self.mode == "silent":
            return b""
        if self.mode == "garbage":
            return b"\x13\x37\xde\xad\xbe"
        request = krcu.parse_request(frame)
        if request.address != self.address:
            return b""  # another board's frame on the bus
        if request.cmd == krcu.CMD_KEYPAD:
            answer = krcu.keypad_reply(self.address, self.codes.popleft() if self.codes else "")
        else:
            if request.cmd == krcu.CMD_OPEN and self.mode != "refuse":
                self.doors[request.lock] = "open"
            door = self.doors.get(request.lock, "closed")
            answer = krcu.door_reply(request.stx, self.address, request.lock, door)  # type: ignore[arg-type]
        if self.mode == "bad_checksum":
            answer = answer[:-1] + bytes([answer[-1] ^ 0xFF])
        return answer

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)
        os.close(self._slave)
