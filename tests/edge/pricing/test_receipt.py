"""The receipt prints the unit price charged and marks a line a time-window rule priced."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drivers.printer import PrinterConfig
from edge.printing.tickets import render

ORDER = {"id": "01JD0000000000000000000000", "number": 7, "channel": "pos", "table": None,
         "pickup": False, "status": "placed", "created_at": "2026-12-07T04:00:00.000Z",
         "total_cents": 5200, "stations": ["noodle", "wok"],
         "lines": [{"line_no": 1, "sku": "C004", "name": "Lanzhou noodles", "qty": 2,
                    "unit_cents": 1200, "total_cents": 2400, "station": "noodle", "note": None,
                    "price_rule": "lunch"},
                   {"line_no": 2, "sku": "C001", "name": "Spicy pot", "qty": 1,
                    "unit_cents": 2800, "total_cents": 2800, "station": "wok", "note": None}]}


def test_the_receipt_shows_the_rule_price_and_names_the_rule() -> None:
    printer = PrinterConfig("r", "file", path="/dev/null", columns=42, cjk=False)
    text = render("receipt", ORDER, printer, ZoneInfo("Asia/Shanghai")).decode("gb18030")
    assert "2 x 12.00" in text and "24.00" in text and "52.00" in text
    assert text.count("Time price") == 1 and "Time price: lunch" in text
    assert text.index("Time price") < text.index("Spicy pot")  # under its own line
