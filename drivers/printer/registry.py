"""``type`` in a ``[printers.<name>]`` table -> the transport that reaches the printer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from drivers.printer.base import Transport
from drivers.printer.config import PrinterConfig
from drivers.printer.file import FileTransport
from drivers.printer.network import NetworkTransport
from drivers.printer.serial import SerialTransport
from drivers.printer.usb import UsbTransport

TRANSPORTS: Final[dict[str, Callable[[PrinterConfig], Transport]]] = {
    "network": NetworkTransport,
    "usb": UsbTransport,
    "serial": SerialTransport,
    "file": FileTransport,
}
