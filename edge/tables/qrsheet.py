"""The printable sheet of table QR codes: six cards an A4 page, to cut out and stand on the
tables. reportlab draws the QR codes and the PDF; its built-in STSong-Light CID font prints
Chinese table names without shipping a font file."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"
COLUMNS, ROWS = 2, 3
QR_SIZE = 60 * mm


def guess_base_url(port: int) -> str:
    """``http://<this box's LAN address>:<port>``: the address of the interface a packet to
    the outside would leave by (no packet is sent), else loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent by connect()
            address = probe.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    return f"http://{address}:{port}"


def write_sheet(tables: Sequence[dict[str, Any]], base_url: str, out: Path) -> int:
    """Draw one card per table (name, area, QR of ``base_url + table["url"]``); the pages
    written."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    page_w, page_h = A4
    card_w, card_h = page_w / COLUMNS, page_h / ROWS
    pdf = canvas.Canvas(str(out), pagesize=A4)
    pdf.setTitle("storenode table QR codes")
    per_page = COLUMNS * ROWS
    for n, table in enumerate(tables):
        if n and n % per_page == 0:
            pdf.showPage()
        col, row = n % COLUMNS, (n % per_page) // COLUMNS
        x, y = col * card_w, page_h - (row + 1) * card_h
        _card(pdf, table, base_url, x, y, card_w, card_h)
    pdf.showPage()
    pdf.save()
    return max(1, -(-len(tables) // per_page))


def _card(pdf: canvas.Canvas, table: dict[str, Any], base_url: str, x: float, y: float,
          w: float, h: float) -> None:
    pdf.setDash(2, 3)
    pdf.rect(x + 4 * mm, y + 4 * mm, w - 8 * mm, h - 8 * mm)  # where to cut
    pdf.setDash()
    url = base_url + table["url"]
    widget = QrCodeWidget(url, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(QR_SIZE, QR_SIZE,
                      transform=[QR_SIZE / (right - left), 0, 0, QR_SIZE / (top - bottom), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, pdf, x + (w - QR_SIZE) / 2, y + 22 * mm)
    pdf.setFont(FONT, 20)
    pdf.drawCentredString(x + w / 2, y + h - 18 * mm, f"{table['name']}")
    pdf.setFont(FONT, 11)
    area = f"{table['area']} · " if table.get("area") else ""
    pdf.drawCentredString(x + w / 2, y + h - 26 * mm, f"{area}{table['seats']} 座 seats")
    pdf.drawCentredString(x + w / 2, y + 14 * mm, "扫码点餐  Scan to order")
    pdf.setFont("Helvetica", 6)
    pdf.drawCentredString(x + w / 2, y + 9 * mm, f"table {table['id']}")
