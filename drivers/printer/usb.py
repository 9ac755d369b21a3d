"""A USB printer driven directly through pyusb (python-escpos's ``Usb``), for printers with no
kernel ``usblp`` device. Needs the ``usb`` extra (``pip install storenode[usb]``)."""

from __future__ import annotations

from typing import Any

from drivers.printer.base import PrinterError
from drivers.printer.config import PrinterConfig


class UsbTransport:
    can_read = True

    def __init__(self, config: PrinterConfig) -> None:
        self.ids = (config.usb_vendor, config.usb_product)
        self.timeout_ms = int(config.timeout_s * 1000)
        self._dev: Any = None

    def open(self) -> None:
        from escpos.exceptions import DeviceNotFoundError
        from escpos.printer import Usb

        if not Usb.is_usable():
            raise PrinterError("offline", "pyusb is not installed (pip install storenode[usb])")
        from usb.core import NoBackendError

        dev = Usb(self.ids[0], self.ids[1], timeout=self.timeout_ms)
        try:
            dev.open()
        except NoBackendError as exc:
            raise PrinterError("offline", "no libusb on this machine (apt install libusb-1.0-0)") \
                from exc
        except DeviceNotFoundError as exc:
            raise PrinterError("offline", f"USB {self.ids[0]:04x}:{self.ids[1]:04x}: {exc}") \
                from exc
        self._dev = dev

    def write(self, data: bytes) -> None:
        try:
            self._device()._raw(data)
        except Exception as exc:  # noqa: BLE001 - usb.core.USBError, unplugged mid-job
            raise PrinterError("io", f"USB write: {exc}") from exc

    def read(self, size: int, timeout: float) -> bytes:
        dev = self._device()
        try:
            return bytes(dev.device.read(dev.in_ep, size, int(timeout * 1000)))
        except Exception as exc:  # noqa: BLE001 - a timeout is a USBTimeoutError
            if type(exc).__name__ == "USBTimeoutError":
                return b""
            raise PrinterError("io", f"USB read: {exc}") from exc

    def close(self) -> None:
        if self._dev is not None:
            self._dev.close()
            self._dev = None

    def _device(self) -> Any:
        if self._dev is None:
            raise PrinterError("io", "not open")
        return self._dev
