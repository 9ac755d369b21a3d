"""The serial lock-board driver against a fake board on a pty, speaking the real frames."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers.locker import BoardGarbage, BoardTimeout, BoardUnavailable, LockRefused, krcu, make_board
from drivers.locker.board import KrcuBoard, serial_board

from .pty_board import PtyBoard


@pytest.fixture
async def pty_board() -> AsyncIterator[PtyBoard]:
    board = PtyBoard(address=3, compartments=4)
    yield board
    board.close()


@pytest.fixture
async def driver(pty_board: PtyBoard) -> AsyncIterator[KrcuBoard]:
    board = serial_board(pty_board.port, address=3, compartments=4, timeout_s=0.3)
    yield board
    await board.close()


def test_frames_are_the_documented_bytes() -> None:
    assert krcu.open_request(1, 1) == bytes.fromhex("8a 01 01 11 9b")
    assert krcu.read_request(1, 2) == bytes.fromhex("80 01 02 33 b0")
    assert krcu.keypad_request(1) == bytes.fromhex("8b 01 00 44 ce")
    assert krcu.keypad_reply(1, "123456") == bytes.fromhex("8b 01 06 31 32 33 34 35 36 8b")
    assert krcu.parse_door_reply(bytes.fromhex("80 01 02 11 92"), 0x80, 1, 2) == "open"
    with pytest.raises(BoardGarbage, match="checksum"):
        krcu.parse_door_reply(bytes.fromhex("80 01 02 11 93"), 0x80, 1, 2)
    with pytest.raises(BoardGarbage, match="not for lock"):
        krcu.parse_door_reply(bytes.fromhex("80 01 03 11 93"), 0x80, 1, 2)


async def test_open_read_and_keypad(pty_board: PtyBoard, driver: KrcuBoard) -> None:
    assert await driver.door(2) == "closed"
    await driver.open(2)
    assert await driver.door(2) == "open"
    assert pty_board.requests[:2] == [krcu.read_request(3, 2), krcu.open_request(3, 2)]
    assert await driver.keypad() is None
    pty_board.codes.append("482913")
    assert await driver.keypad() == "482913"
    with pytest.raises(ValueError):
        await driver.open(5)


async def test_board_not_answering_times_out_then_recovers(pty_board: PtyBoard,
                                                           driver: KrcuBoard) -> None:
    pty_board.mode = "silent"
    with pytest.raises(BoardTimeout):
        await driver.open(1)
    assert pty_board.doors[1] == "closed"
    pty_board.mode = "ok"
    await driver.open(1)
    assert pty_board.doors[1] == "open"


@pytest.mark.parametrize("mode", ["garbage", "bad_checksum"])
async def test_garbage_and_bad_checksum_are_refused(pty_board: PtyBoard, driver: KrcuBoard,
                                                    mode: str) -> None:
    pty_board.mode = mode
    with pytest.raises(BoardGarbage):
        await driver.door(1)
    with pytest.raises(BoardGarbage):
        await driver.keypad()
    pty_board.mode = "ok"
    assert await driver.door(1) == "closed"


async def test_a_lock_that_stays_shut_is_reported(pty_board: PtyBoard, driver: KrcuBoard) -> None:
    pty_board.mode = "refuse"
    with pytest.raises(LockRefused):
        await driver.open(4)


async def test_a_missing_port_is_unavailable() -> None:
    board = make_board({"type": "serial", "port": "/dev/does-not-exist", "baudrate": 19200,
                        "board_address": 1, "compartments": 4, "timeout_ms": 200})
    with pytest.raises(BoardUnavailable, match="does-not-exist"):
        await board.door(1)
    await board.close()


async def test_network_backend_speaks_the_same_frames() -> None:
    import asyncio

    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frame = await reader.readexactly(5)
        seen.append(frame)
        req = krcu.parse_request(frame)
        writer.write(krcu.door_reply(req.stx, req.address, req.lock, "open"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    board = make_board({"type": "network", "host": f"127.0.0.1:{port}", "board_address": 1,
                        "compartments": 8, "timeout_ms": 500})
    try:
        await board.open(7)
        assert seen == [krcu.open_request(1, 7)]
    finally:
        await board.close()
        server.close()
        await server.wait_closed()
