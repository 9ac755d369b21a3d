"""``[printers.<name>]`` tables: which backend, where it is, what it prints, its backup."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

DEFAULT_PORT: Final = 9100
NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
# the keys each backend needs
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "network": ("address",), "serial": ("path",), "file": ("path",),
    "usb": ("usb_vendor", "usb_product"),
}


class PrinterConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PrinterConfig:
    name: str
    type: str
    address: str = ""  # network: host or host:port (port 9100 by default)
    path: str = ""  # serial: the device; file: the file (or a /dev/usb/lpN device)
    baudrate: int = 9600  # serial
    usb_vendor: int = 0
    usb_product: int = 0
    stations: tuple[str, ...] = ()  # kitchen stations whose tickets it prints
    receipts: bool = False  # customer receipts (with the QR code)
    labels: bool = False  # pickup labels
    backup: str = ""  # the printer its jobs move to while it cannot print
    cjk: bool = True  # Chinese: GB18030 text in the printer's CJK mode (FS &)
    columns: int = 48  # characters per line in the normal font (80 mm: 48, 58 mm: 32)
    status: bool = True  # ask DLE EOT real-time status (where the backend can read)
    timeout_s: float = 3.0  # connect / write / status answer

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        if not host or not port.isdigit():
            return self.address, DEFAULT_PORT
        return host, int(port)


_TYPES: Final[dict[str, Any]] = {f.name: f.type for f in fields(PrinterConfig)}
_KINDS: Final[dict[str, type | tuple[type, ...]]] = {
    "str": str, "int": int, "bool": bool, "float": (int, float), "tuple[str, ...]": list,
}


def parse_printers(tables: Any, base_dir: Path, backends: frozenset[str]) -> dict[str,
                                                                                 PrinterConfig]:
    """The printers of a config file's ``printers`` table; a relative file ``path`` is taken
    from ``base_dir``. Raises :class:`PrinterConfigError` naming ``printers.<name>.<key>``."""
    if not isinstance(tables, dict):
        raise PrinterConfigError("[printers] must hold one table per printer")
    printers = {name: _one(name, table, base_dir, backends) for name, table in tables.items()}
    for name, printer in printers.items():
        if printer.backup and (printer.backup == name or printer.backup not in printers):
            raise PrinterConfigError(f"printers.{name}.backup: no other printer named "
                                     f"{printer.backup!r}")
    return printers


def _one(name: str, table: Any, base_dir: Path, backends: frozenset[str]) -> PrinterConfig:
    where = f"printers.{name}"
    if not isinstance(table, dict):
        raise PrinterConfigError(f"[{where}] must be a table")
    if not name or not set(name) <= NAME_CHARS:
        raise PrinterConfigError(f"[{where}]: a printer name is [a-z0-9_-]+")
    unknown = set(table) - set(_TYPES) | ({"name"} & set(table))
    if unknown:
        raise PrinterConfigError(f"[{where}] has unknown key(s) {sorted(unknown)}")
    values: dict[str, Any] = {}
    for key, given in table.items():
        value: Any = given
        kind = _KINDS[str(_TYPES[key])]
        if not isinstance(given, kind) or (isinstance(given, bool) and kind is not bool):
            raise PrinterConfigError(f"{where}.{key}: wrong type {value!r}")
        if key == "stations":
            if not all(isinstance(s, str) and s for s in value):
                raise PrinterConfigError(f"{where}.stations: a list of station names")
            value = tuple(value)
        values[key] = float(value) if key == "timeout_s" else value
    backend = values.get("type")
    if backend not in backends:
        raise PrinterConfigError(f"{where}.type: one of {sorted(backends)}, got {backend!r}")
    for key in REQUIRED.get(backend, ()):
        if not values.get(key):
            raise PrinterConfigError(f"{where}.{key} is required for type {backend!r}")
    if backend == "file" and not Path(values["path"]).is_absolute():
        values["path"] = str(base_dir / values["path"])
    if not 16 <= values.get("columns", 48) <= 96 or not 0.1 <= values.get("timeout_s", 3) <= 60:
        raise PrinterConfigError(f"{where}: columns 16-96, timeout_s 0.1-60")
    return PrinterConfig(name=name, **values)
