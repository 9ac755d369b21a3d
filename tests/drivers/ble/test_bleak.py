"""The BLE driver: bleak's advertisement data through the detection callback, capture files
and their replay, and a missing adapter."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from drivers.ble import (AdapterMissing, Advert, BleakProbe, ReplayProbe, advert_from_bleak,
                         capture_line, read_capture)

from .bleak_inject import InjectBackend, bleak_advert, bleak_device


async def test_bleak_detection_callback_delivers_adverts() -> None:
    heard: list[Advert] = []
    probe = BleakProbe("hci0", clock=lambda: 1000.0, backend=InjectBackend)
    await probe.start(heard.append)
    try:
        backend = InjectBackend.last
        assert backend is not None and backend.scanning
        backend.advertise("AA:BB:CC:DD:EE:01", -55, name="phone")
    finally:
        await probe.stop()
    assert heard == [Advert("AA:BB:CC:DD:EE:01", -55, b"phone|76|", 1000.0)]


async def test_a_missing_adapter_is_a_clear_error_not_a_traceback() -> None:
    probe = BleakProbe("hci99")
    with pytest.raises(AdapterMissing, match="hci99"):
        await probe.start(lambda advert: None)
    await probe.stop()


async def test_capture_files_replay_and_hold_no_radio_address(tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    advert = advert_from_bleak(bleak_device("AA:BB:CC:DD:EE:02"), bleak_advert(-61), 12.5)
    line = capture_line(advert, 10.0, b"salt", None, [76], [])
    assert "AA:BB" not in line and json.loads(line)["t"] == 2.5
    capture.write_text(line + "\n\n" + line.replace('"t":2.5', '"t":4') + "\n")
    replayed = list(read_capture(capture, 100.0))
    assert [a.at for a in replayed] == [102.5, 104.0]
    heard: list[Advert] = []
    probe = ReplayProbe(capture, speed=0)
    await probe.start(heard.append)
    await asyncio.wait_for(probe.done.wait(), 2)
    await probe.stop()
    assert len(heard) == 2 and heard[0].signature == advert.signature
    capture.write_text('{"t": 1}\n')
    with pytest.raises(ValueError, match="capture.jsonl:1"):
        list(read_capture(capture, 0))
    with pytest.raises(AdapterMissing):
        await ReplayProbe(tmp_path / "nope.jsonl").start(heard.append)
