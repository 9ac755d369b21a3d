"""``type`` in a ``[printers.<name>]`` table -> the transport that reaches the printer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from .base import Transport
from .config import PrinterConfig
from .file import FileTransport
from .network import NetworkTransport
from .serial import SerialTransport
from .usb import UsbTransport

TRANSPORTS: Final[dict[str, Callable[[PrinterConfig], Transport]]] = {
    "network": NetworkTransport,
    "usb": UsbTransport,
    "serial": SerialTransport,
    "file": FileTransport,
}
