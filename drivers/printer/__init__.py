"""Receipt and kitchen printers speaking ESC/POS over TCP 9100, USB, serial or a file.

One Protocol (:class:`~drivers.printer.base.Printer`) for the edge's print coordinator; the
backend is chosen by the ``type`` key of a ``[printers.<name>]`` table (:data:`TRANSPORTS`).
"""

from .base import Printer, PrinterError, Transport
from .config import PrinterConfig, PrinterConfigError, parse_printers
from .device import EscPosPrinter, open_printer
from .document import Doc
from .registry import TRANSPORTS
from .status import PrinterStatus

__all__ = ["Doc", "EscPosPrinter", "Printer", "PrinterConfig", "PrinterConfigError",
           "PrinterError", "PrinterStatus", "TRANSPORTS", "Transport", "open_printer",
           "parse_printers"]
