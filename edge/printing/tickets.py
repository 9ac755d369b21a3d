"""What is printed: a kitchen ticket per station, the customer receipt (with a QR code), the
pickup label. Each is an ESC/POS :class:`~drivers.printer.Doc` rendered for one printer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from common.vocabulary import CHANNELS
from drivers.printer import Doc, PrinterConfig

CHANNEL_NAMES: Final = {name: f"{c['zh']} {c['en']}" for name, c in CHANNELS.items()}


def _local(at: str, tz: ZoneInfo) -> str:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz) \
        .strftime("%Y-%m-%d %H:%M:%S")


def _yuan(cents: int) -> str:
    return f"{cents / 100:.2f}"


def _head(doc: Doc, order: Mapping[str, Any], tz: ZoneInfo, reprint: bool) -> None:
    if reprint:
        doc.style(1, bold=True, align="center").text("*** 重印 REPRINT ***")
    doc.style(2, bold=True, align="center").text(f"#{order['number']}")
    doc.style(1, align="left").text(CHANNEL_NAMES.get(order["channel"], order["channel"]))
    if order.get("table"):
        doc.style(2, bold=True).text(f"桌号 Table {order['table']}")
    if order.get("pickup"):
        doc.style(1, bold=True).text("自取 PICKUP")
    doc.style(1).text(_local(order["created_at"], tz))
    if order.get("status") == "cancelled":
        doc.style(2, bold=True, align="center").text("已取消 CANCELLED")
    doc.style(1, align="left").rule()


def kitchen(doc: Doc, order: Mapping[str, Any], station: str | None, tz: ZoneInfo,
            **_: Any) -> None:
    """The lines of one station, item names large, notes under them."""
    doc.style(1, bold=True, align="center").text(f"厨房 Kitchen: {station}")
    for line in order["lines"]:
        if line["station"] != station:
            continue
        doc.style(2, bold=True).text(f"{line['qty']} x {line['name']}")
        if line.get("note"):
            doc.style(1, bold=True).text(f"  备注 Note: {line['note']}")
    doc.style(1).rule().text(f"Order {order['id']}")


def receipt(doc: Doc, order: Mapping[str, Any], station: str | None, tz: ZoneInfo,
            header: str = "", qr_url: str = "", store: str = "", feedback: str | None = None,
            **_: Any) -> None:
    """Lines with prices, total, and the QR code (e.g. the shop's mini-program, or the
    order's feedback page: ``{feedback}``, the order's token; without a token yet, no QR)."""
    for line in order["lines"]:
        doc.style(1).text(line["name"]).columns2(
            f"  {line['qty']} x {_yuan(line['unit_cents'])}", _yuan(line["total_cents"]))
        if line.get("price_rule"):  # the unit price charged is a time-window rule's
            doc.text(f"  时段价 Time price: {line['price_rule']}")
    doc.rule()
    if order.get("discount_cents"):
        doc.columns2("优惠 Discount", "-" + _yuan(order["discount_cents"]))
    doc.style(2, bold=True).columns2("合计 Total", _yuan(order["total_cents"]))
    if order.get("points_earned"):
        doc.style(1).text(f"积分 Points +{order['points_earned']}")
    rate = "{feedback}" in qr_url
    if qr_url and (feedback or not rate):
        doc.style(1, align="center").text(
            "扫码评价 Scan to rate your visit" if rate else "扫码关注 Scan to join us").qr(
            qr_url.format(store=store, order=order["id"], number=order["number"],
                          feedback=feedback or ""))
    doc.style(1, align="center").text("谢谢惠顾 Thank you")


def label(doc: Doc, order: Mapping[str, Any], station: str | None, tz: ZoneInfo,
          **_: Any) -> None:
    """Stuck on the bag: the number large, what is in it."""
    count = sum(line["qty"] for line in order["lines"])
    doc.style(1).text(f"{count} 件 items")
    for line in order["lines"]:
        doc.text(f"{line['qty']} x {line['name']}")


BODIES: Final[dict[str, Callable[..., None]]] = {
    "kitchen": kitchen, "receipt": receipt, "label": label,
}


def render(kind: str, order: Mapping[str, Any], printer: PrinterConfig, tz: ZoneInfo, *,
           station: str | None = None, reprint: bool = False, header: str = "",
           qr_url: str = "", store: str = "", feedback: str | None = None) -> bytes:
    doc = Doc(printer.columns, printer.cjk)
    if header and kind == "receipt":
        doc.style(2, bold=True, align="center").text(header)
    _head(doc, order, tz, reprint)
    BODIES[kind](doc, order, station, tz, header=header, qr_url=qr_url, store=store,
                 feedback=feedback)
    return doc.feed(2).finish()


def waitlist_slip(slip: Mapping[str, Any], printer: PrinterConfig, tz: ZoneInfo,
                  header: str = "") -> bytes:
    """A called waitlist number, for the guest or the host at the door."""
    doc = Doc(printer.columns, printer.cjk)
    if header:
        doc.style(1, bold=True, align="center").text(header)
    doc.style(1, align="center").text("叫号 NOW CALLING")
    doc.style(2, bold=True, align="center").text(str(slip["ticket"]))
    doc.style(1, bold=True, align="center").text("请到前台 Please come to the desk")
    doc.style(1, align="center").text(f"{slip['party']} 位 guests")
    if slip.get("called_at"):
        doc.text(_local(str(slip["called_at"]), tz))
    return doc.feed(2).finish()


def test_page(printer: PrinterConfig, now: datetime) -> bytes:
    """What ``storenode printer test`` prints."""
    doc = Doc(printer.columns, printer.cjk)
    doc.style(2, bold=True, align="center").text("打印测试 TEST")
    doc.style(1, align="left").text(f"{printer.name} ({printer.type})")
    doc.text(now.strftime("%Y-%m-%d %H:%M:%S %Z")).rule()
    doc.text("中文 GB18030: 麻辣香锅 宫保鸡丁 𠀀").text("0123456789 ABCDEFGHIJ abcdefghij")
    return doc.rule().feed(2).finish()
