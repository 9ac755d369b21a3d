"""Receipt and kitchen printers speaking ESC/POS over TCP 9100, USB, serial or a file.

One Protocol (:class:`~drivers.printer.base.Printer`) for the edge's print coordinator; the
backend is chosen by the ``type`` key of a ``[printers.<name>]`` table (:data:`TRANSPORTS`).
"""

from drivers.printer.base import Printer, PrinterError, Transport
from drivers.printer.config import PrinterConfig, PrinterConfigError, parse_printers
from drivers.printer.device import EscPosPrinter, open_printer
from drivers.printer.document import Doc
from drivers.printer.registry import TRANSPORTS
from drivers.printer.status import PrinterStatus

__all__ = ["Doc", "EscPosPrinter", "Printer", "PrinterConfig", "PrinterConfigError",
           "PrinterError", "PrinterStatus", "TRANSPORTS", "Transport", "open_printer",
           "parse_printers"]
