"""Ticket bytes (exact ESC/POS and GB18030), status bytes, printer tables and routing."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from drivers.printer import TRANSPORTS, Doc, PrinterConfig, PrinterConfigError, parse_printers
from drivers.printer import status as st
from drivers.printer.document import display_width, wrap
from edge.printing.routing import jobs_for
from edge.printing.tickets import render

TZ = ZoneInfo("Asia/Shanghai")
ORDER = {"id": "01JD0000000000000000000000", "number": 7, "channel": "meituan", "table": "A3",
         "pickup": True, "status": "placed", "created_at": "2026-11-26T04:05:06.000Z",
         "total_cents": 6500, "stations": ["", "noodle", "wok"],
         "lines": [{"line_no": 1, "sku": "C001", "name": "麻辣香锅", "qty": 2, "unit_cents": 2800,
                    "total_cents": 5600, "station": "wok", "note": "少辣"},
                   {"line_no": 2, "sku": "C009", "name": "清炒时蔬", "qty": 1, "unit_cents": 900,
                    "total_cents": 900, "station": "noodle", "note": None}]}
NARROW = PrinterConfig("k", "file", path="/dev/null", columns=32)

# ESC/POS pieces, spelled out
INIT, CJK_ON, CJK_OFF = b"\x1b@", b"\x1c&", b"\x1c."
BIG, NORMAL = b"\x1d!\x11", b"\x1d!\x00"  # GS ! (applies to CJK characters too)
BOLD, PLAIN = b"\x1bE\x01", b"\x1bE\x00"
LEFT, CENTER = b"\x1ba\x00", b"\x1ba\x01"
CUT = b"\x1bd\x06\x1dV\x00"  # feed 6 lines, full cut


def test_kitchen_ticket_exact_bytes_gb18030_in_cjk_mode() -> None:
    gb = {"美团": b"\xc3\xc0\xcd\xc5", "桌号": b"\xd7\xc0\xba\xc5", "厨房": b"\xb3\xf8\xb7\xbf",
          "麻辣香锅": b"\xc2\xe9\xc0\xb1\xcf\xe3\xb9\xf8", "备注": b"\xb1\xb8\xd7\xa2",
          "少辣": b"\xc9\xd9\xc0\xb1", "自取": b"\xd7\xd4\xc8\xa1"}
    expected = (
        INIT + CJK_ON
        + BIG + BOLD + CENTER + b"#7\n"
        + NORMAL + PLAIN + LEFT + gb["美团"] + b" Meituan\n"
        + BIG + BOLD + LEFT + gb["桌号"] + b" Table A3\n"
        + NORMAL + BOLD + LEFT + gb["自取"] + b" PICKUP\n"
        + NORMAL + PLAIN + LEFT + b"2026-11-26 12:05:06\n"  # shop-local time (UTC+8)
        + NORMAL + PLAIN + LEFT + b"-" * 32 + b"\n"
        + NORMAL + BOLD + CENTER + gb["厨房"] + b" Kitchen: wok\n"
        + BIG + BOLD + LEFT + b"2 x " + gb["麻辣香锅"] + b"\n"
        + NORMAL + BOLD + LEFT + b"  " + gb["备注"] + b" Note: " + gb["少辣"] + b"\n"
        + NORMAL + PLAIN + LEFT + b"-" * 32 + b"\n"
        + b"Order 01JD0000000000000000000000\n" + b"\n\n"
        + CJK_OFF + CUT
    )
    assert render("kitchen", ORDER, NARROW, TZ, station="wok") == expected


def test_four_byte_gb18030_and_wide_characters_take_two_columns() -> None:
    doc = Doc(columns=16)
    doc.text("𠀀€")
    assert b"\x952\x826\xa2\xe3\n" in doc.finish()  # U+20000 is 4 bytes in GB18030; € is A2E3
    assert display_width("麻辣 ab") == 7
    assert wrap("麻辣香锅宫保鸡丁饭", 8) == ["麻辣香锅", "宫保鸡丁", "饭"]
    # without CJK mode escpos picks a code page (ESC t 0: PC437) and no FS & is sent
    assert Doc(columns=16, cjk=False).text("abc").finish() == INIT + b"\x1bt\x00abc\n" + CUT


def test_receipt_has_prices_total_and_a_native_qr_code() -> None:
    out = render("receipt", ORDER, NARROW, TZ, header="老王面馆",
                 qr_url="https://mp.example.com/s/{store}?o={number}", store="canteen-01")
    assert out.startswith(INIT + CJK_ON + BIG + BOLD + CENTER + "老王面馆".encode("gb18030"))
    assert b"  2 x 28.00" in out and b"56.00\n" in out and b"65.00\n" in out
    url = b"https://mp.example.com/s/canteen-01?o=7"
    # GS ( k: store the data (fn 80, length = 3 + len), then print it (fn 81)
    assert b"\x1d(k" + bytes([len(url) + 3, 0]) + b"1P0" + url in out
    assert b"\x1d(k\x03\x001Q0" in out


def test_label_and_reprint_banner() -> None:
    out = render("label", ORDER, NARROW, TZ, reprint=True)
    assert "重印".encode("gb18030") in out and b"3 " + "件".encode("gb18030") in out


@pytest.mark.parametrize(("answers", "state"), [
    ({1: 0x12, 2: 0x12, 4: 0x12}, "ok"),
    ({1: 0x12, 2: 0x12, 4: 0x1E}, "paper_low"),
    ({1: 0x1A, 2: 0x32, 4: 0x72}, "paper_out"),
    ({1: 0x1A, 2: 0x16, 4: 0x12}, "cover_open"),
    ({1: 0x1A, 2: 0x52, 4: 0x12}, "error"),
    ({1: 0x1A, 2: 0x12, 4: 0x12}, "offline"),
])
def test_status_bytes(answers: dict[int, int], state: str) -> None:
    status = st.parse(answers)
    assert status.state == state
    assert status.printable == (state in ("ok", "paper_low"))
    assert {n: st.answer(status, n) for n in answers}[1] & 0x08 == answers[1] & 0x08


def test_status_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not a status byte"):
        st.parse({1: 0xFF})


def test_printer_tables_are_checked(tmp_path: Path) -> None:
    kinds = frozenset(TRANSPORTS)
    ok = parse_printers({"k": {"type": "file", "path": "p/k.prn", "stations": ["wok"],
                               "backup": "f"},
                         "f": {"type": "network", "address": "10.0.0.9"}}, tmp_path, kinds)
    assert ok["k"].path == str(tmp_path / "p/k.prn") and ok["k"].stations == ("wok",)
    assert ok["f"].host_port == ("10.0.0.9", 9100)
    for tables, message in [
        ({"k": {"type": "bluetooth"}}, "printers.k.type"),
        ({"k": {"type": "network"}}, "printers.k.address is required"),
        ({"k": {"type": "usb", "usb_vendor": 0x0416}}, "printers.k.usb_product"),
        ({"k": {"type": "file", "path": "x", "backup": "k"}}, "printers.k.backup"),
        ({"k": {"type": "file", "path": "x", "stations": "wok"}}, "printers.k.stations"),
        ({"k": {"type": "file", "path": "x", "colour": 1}}, "unknown key"),
        ({"k": {"type": "file", "path": "x", "receipts": 1}}, "printers.k.receipts"),
        ({"K 1": {"type": "file", "path": "x"}}, "a printer name"),
    ]:
        with pytest.raises(PrinterConfigError, match=message):
            parse_printers(tables, tmp_path, kinds)


def test_routing_per_station_with_backup_and_unrouted() -> None:
    printers = parse_printers({
        "wok": {"type": "file", "path": "/a", "stations": ["wok"], "backup": "front"},
        "front": {"type": "file", "path": "/b", "receipts": True, "labels": True},
    }, Path("/"), frozenset(TRANSPORTS))
    oid = ORDER["id"]
    assert jobs_for(ORDER, printers, lambda name: True) == [
        (oid, "kitchen", "noodle", None), (oid, "kitchen", "wok", "wok"),
        (oid, "receipt", None, "front"), (oid, "label", None, "front")]
    down = jobs_for(ORDER, printers, lambda name: name != "wok", kinds=("kitchen",),
                    station="wok")
    assert down == [(oid, "kitchen", "wok", "front")]
