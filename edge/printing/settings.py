"""The printing settings: ``[print]`` (in the edge SCHEMA) and the ``[printers.<name>]`` tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any, Final

from common.config import ConfigError
from drivers.printer import TRANSPORTS, PrinterConfig, PrinterConfigError, parse_printers

DEMO_PRINTERS = """
# Simulated printers of the demo store: tickets are appended to files under prints/
# (see docs/printing.md for network, usb and serial printers).
[printers.kitchen]
type = "file"
path = "prints/kitchen.prn"
stations = ["wok", "noodle", "stew", "steamer", "bar", "hot_case", "coffee"]
backup = "front"

[printers.front]
type = "file"
path = "prints/front.prn"
receipts = true
labels = true
"""


@dataclass(frozen=True)
class PrintSettings:
    printers: dict[str, PrinterConfig] = field(default_factory=dict)
    header: str = ""  # receipt header, e.g. the shop's name
    qr_url: str = ""  # receipt QR code: {store}, {order}, {number}, {feedback} filled in
    retry_base_s: float = 0.5
    retry_max_s: float = 30.0
    failover_after: int = 3
    poll_s: float = 2.0  # idle workers look for jobs other processes queued (CLI reprint)


def load_print_settings(path: Path, data_dir: Path, tables: Any,
                        values: dict[str, Any]) -> PrintSettings:
    try:
        printers = parse_printers(tables, data_dir, frozenset(TRANSPORTS))
    except PrinterConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    for key, low, high in (("print.retry_base_ms", 10, 60000), ("print.retry_max_s", 1, 3600),
                           ("print.failover_after", 1, 100)):
        if not low <= values[key] <= high:
            raise ConfigError(f"{path}: {key} must be between {low} and {high}")
    _check_qr_url(path, values["print.qr_url"])
    return PrintSettings(printers=printers, header=values["print.header"],
                         qr_url=values["print.qr_url"],
                         retry_base_s=values["print.retry_base_ms"] / 1000,
                         retry_max_s=float(values["print.retry_max_s"]),
                         failover_after=values["print.failover_after"])


QR_FIELDS: Final = frozenset({"store", "order", "number", "feedback"})


def _check_qr_url(path: Path, url: str) -> None:
    """A placeholder other than QR_FIELDS (or a stray brace) would fail every receipt: refuse
    it at start-up instead."""
    try:
        names = {name for _, name, _spec, _conv in Formatter().parse(url) if name is not None}
        bad = sorted(names - QR_FIELDS)
    except ValueError as exc:
        raise ConfigError(f"{path}: print.qr_url: {exc}") from None
    if bad:
        raise ConfigError(f"{path}: print.qr_url: unknown placeholder {{{bad[0]}}}; use "
                          f"{', '.join('{' + f + '}' for f in sorted(QR_FIELDS))}")
