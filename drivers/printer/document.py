"""ESC/POS documents: python-escpos's command builders on its Dummy printer, and Chinese text
as GB18030 inside the printer's CJK mode (FS & ... FS .), which escpos's code pages lack."""

from __future__ import annotations

import textwrap
import unicodedata
from typing import Final

from escpos.printer import Dummy

INIT: Final = b"\x1b@"  # ESC @: reset the print modes
CJK_ON: Final = b"\x1c&"  # FS &: two-byte (Kanji / GB) character mode
CJK_OFF: Final = b"\x1c."  # FS .: back to one-byte characters
ENCODING: Final = "gb18030"


def display_width(text: str) -> int:
    """Columns ``text`` takes in the normal font: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, columns: int) -> list[str]:
    """``text`` cut into lines of at most ``columns`` display columns."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        if display_width(para) == len(para):
            lines += textwrap.wrap(para, columns) or [""]
            continue
        line, width = "", 0
        for ch in para:
            w = display_width(ch)
            if width + w > columns:
                lines.append(line)
                line, width = "", 0
            line, width = line + ch, width + w
        lines.append(line)
    return lines


class Doc:
    """One print job. ``cjk``: text is GB18030 in CJK mode; else escpos picks code pages."""

    def __init__(self, columns: int = 48, cjk: bool = True) -> None:
        self.columns, self.cjk = columns, cjk
        self._p = Dummy()
        self._p._raw(INIT + (CJK_ON if cjk else b""))
        self._size = 1

    def style(self, size: int = 1, bold: bool = False, align: str = "left") -> Doc:
        """Character size (1 normal, 2 double width and height; GS ! applies to CJK too)."""
        self._p.set(custom_size=True, width=size, height=size, bold=bold, align=align)
        self._size = size
        return self

    def text(self, text: str) -> Doc:
        """``text`` and a line feed, wrapped to the line width at the current size."""
        for line in wrap(text, self.columns // self._size):
            self._write(line + "\n")
        return self

    def columns2(self, left: str, right: str) -> Doc:
        """``left`` and ``right`` on one line, ``right`` flush with the right margin."""
        room = self.columns // self._size
        gap = room - display_width(left) - display_width(right)
        if gap < 1:
            return self.text(left).text(" " * max(0, room - display_width(right)) + right)
        self._write(left + " " * gap + right + "\n")
        return self

    def rule(self, char: str = "-") -> Doc:
        self._write(char * (self.columns // self._size) + "\n")
        return self

    def qr(self, content: str, size: int = 6) -> Doc:
        """A QR code drawn by the printer itself (GS ( k), centred."""
        self._p.set(align="center")
        self._p.qr(content, size=size, native=True)
        self._write("\n")
        self._p.set(align="left")
        return self

    def feed(self, lines: int = 1) -> Doc:
        self._write("\n" * lines)
        return self

    def finish(self) -> bytes:
        """The bytes: back to one-byte mode, feed and cut."""
        if self.cjk:
            self._p._raw(CJK_OFF)
        self._p.cut()
        return bytes(self._p.output)

    def _write(self, text: str) -> None:
        if self.cjk:
            self._p._raw(text.encode(ENCODING, errors="replace"))
        else:
            self._p.text(text)
