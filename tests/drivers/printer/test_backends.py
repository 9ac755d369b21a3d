"""Each backend against a fake printer speaking the real wire protocol: TCP 9100 with DLE EOT
status, a serial printer on a pty, a file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from drivers.printer import EscPosPrinter, PrinterConfig, PrinterError, PrinterStatus
from drivers.printer.fake import FakeNetworkPrinter, FakeSerialPrinter

JOB = "麻辣香锅".encode("gb18030") + b"\n\x1dV\x00"


def net(port: int, **kw: object) -> EscPosPrinter:
    return EscPosPrinter(PrinterConfig("k", "network", address=f"127.0.0.1:{port}",
                                       timeout_s=0.3, **kw))  # type: ignore[arg-type]


async def test_network_sends_the_job_between_two_status_checks(
        fake: FakeNetworkPrinter) -> None:
    printer = net(fake.port)
    fake.status = PrinterStatus(paper_low=True)
    after = await asyncio.to_thread(printer.send, [JOB])
    assert after is not None and after.state == "paper_low"
    assert bytes(fake.received) == JOB  # the queries were answered, not printed
    status = await asyncio.to_thread(printer.status)
    assert status is not None and status.state == "paper_low" and fake.connections == 2


@pytest.mark.parametrize("state", ["paper_out", "cover_open", "error"])
async def test_network_refuses_before_sending_when_the_printer_cannot_print(
        fake: FakeNetworkPrinter, state: str) -> None:
    fake.status = PrinterStatus(**{state: True})
    called = []
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(fake.port).send, [JOB], lambda: called.append(1))
    assert err.value.reason == state and not called and fake.received == b""


async def test_network_printer_that_accepts_then_stalls(fake: FakeNetworkPrinter) -> None:
    fake.stall = True
    started = time.monotonic()
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(fake.port).send, [JOB])
    assert err.value.reason == "no_answer" and time.monotonic() - started < 2
    assert fake.received == b""


async def test_network_printer_closing_mid_job(fake: FakeNetworkPrinter) -> None:
    fake.close_after = 10 + 3 * 3  # three status queries, then 10 bytes of the job
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(fake.port).send, [JOB * 50])
    assert err.value.reason in ("offline", "io") and len(fake.received) == 10


async def test_network_printer_answering_garbage(fake: FakeNetworkPrinter) -> None:
    fake.garbage = True
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(fake.port).send, [JOB])
    assert err.value.reason == "error" and "not a status byte" in str(err.value)
    assert fake.received == b""


async def test_network_printer_not_listening() -> None:
    async with FakeNetworkPrinter() as gone:
        port = gone.port
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(port).status)
    assert err.value.reason == "offline"


async def test_a_printer_without_status_support_is_sent_to_blind(
        fake: FakeNetworkPrinter) -> None:
    fake.answer = False
    assert await asyncio.to_thread(net(fake.port, status=False).send, [JOB]) is None
    await fake.wait_for(JOB)
    assert bytes(fake.received) == JOB


async def test_serial_printer_on_a_pty() -> None:
    fake = FakeSerialPrinter().start()
    try:
        printer = EscPosPrinter(PrinterConfig("s", "serial", path=fake.path, baudrate=19200,
                                              timeout_s=0.5))
        after = await asyncio.to_thread(printer.send, [JOB])
        assert after is not None and after.state == "ok"
        await fake.wait_for(JOB)
        assert bytes(fake.received) == JOB
        fake.status = PrinterStatus(cover_open=True)
        with pytest.raises(PrinterError) as err:
            await asyncio.to_thread(printer.send, [JOB])
        assert err.value.reason == "cover_open" and bytes(fake.received) == JOB
        fake.answer = False
        with pytest.raises(PrinterError) as err:
            await asyncio.to_thread(printer.status)
        assert err.value.reason == "no_answer"
    finally:
        fake.stop()


async def test_serial_device_missing(tmp_path: Path) -> None:
    printer = EscPosPrinter(PrinterConfig("s", "serial", path=str(tmp_path / "ttyUSB9")))
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(printer.status)
    assert err.value.reason == "offline"


async def test_file_printer_appends_and_cannot_answer(tmp_path: Path) -> None:
    path = tmp_path / "prints" / "k.prn"
    printer = EscPosPrinter(PrinterConfig("f", "file", path=str(path)))
    assert await asyncio.to_thread(printer.send, [JOB]) is None
    assert await asyncio.to_thread(printer.send, [JOB]) is None
    assert path.read_bytes() == JOB + JOB
    assert await asyncio.to_thread(printer.status) is None
    (tmp_path / "plain").write_text("a file, not a directory")
    blocked = EscPosPrinter(PrinterConfig("f", "file", path=str(tmp_path / "plain" / "k")))
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(blocked.send, [JOB])
    assert err.value.reason == "offline"


async def test_usb_printer_that_is_not_plugged_in() -> None:
    printer = EscPosPrinter(PrinterConfig("u", "usb", usb_vendor=0x0416, usb_product=0x5011))
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(printer.status)
    assert err.value.reason == "offline"


async def test_several_jobs_in_one_connection_each_confirmed(fake: FakeNetworkPrinter) -> None:
    second = b"second ticket\n\x1dV\x00"
    await asyncio.to_thread(net(fake.port).send, [JOB, second])
    assert bytes(fake.received) == JOB + second and fake.connections == 1
    # 3 queries before, the first job, its confirmation (DLE EOT 1), then 5 bytes of the next
    fake.close_after = 9 + len(JOB) + 3 + 5
    with pytest.raises(PrinterError) as err:
        await asyncio.to_thread(net(fake.port).send, [JOB, second])
    assert err.value.printed == 1  # the first was confirmed, the second was not
