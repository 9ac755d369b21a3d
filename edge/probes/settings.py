"""``[probes]`` and its ``[probes.pickup]`` / ``[probes.store]`` zone tables of edge.toml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import validate_tables
from drivers.ble import BACKENDS

ZONES = ("pickup", "store")
# [probes] key -> (type, default); env override STORENODE_PROBES_<KEY>
PROBE_KEYS: dict[str, tuple[type, Any]] = {
    "conversion_window_s": (int, 1800),
}
# [probes.<zone>] key -> (type, default); env override STORENODE_PROBES_<ZONE>_<KEY>
ZONE_KEYS: dict[str, tuple[type, Any]] = {
    "type": (str, "fake"),
    "adapter": (str, "hci0"),
    "replay_file": (str, ""),
    "rssi_threshold": (int, -75),
    "min_dwell_s": (int, 20),
    "gap_s": (int, 60),
}
RANGES = {"rssi_threshold": (-120, 0), "min_dwell_s": (0, 3600), "gap_s": (5, 3600)}


@dataclass(frozen=True)
class ZoneProbe:
    zone: str
    options: dict[str, Any]  # ZONE_KEYS -> value, what drivers.ble.make_scanner takes

    @property
    def rssi_threshold(self) -> int:
        return int(self.options["rssi_threshold"])

    @property
    def min_dwell_s(self) -> int:
        return int(self.options["min_dwell_s"])

    @property
    def gap_s(self) -> int:
        return int(self.options["gap_s"])


@dataclass(frozen=True)
class ProbeSettings:
    zones: tuple[ZoneProbe, ...]
    conversion_window_s: int = 1800


def parse_probes(path: Path, table: Any, env: dict[str, str],
                 error: type[Exception]) -> ProbeSettings | None:
    if not isinstance(table, dict):
        raise error(f"{path}: [probes] must be a table")
    zones = {k: v for k, v in table.items() if isinstance(v, dict)}
    unknown = set(zones) - set(ZONES)
    if unknown:
        raise error(f"{path}: unknown probe zone(s) {sorted(unknown)}; zones are {list(ZONES)}")
    flat = {k: v for k, v in table.items() if k not in zones}
    top = validate_tables(path, {"probes": flat}, env, {"probes": PROBE_KEYS}, "STORENODE_", error)
    window = top["probes.conversion_window_s"]
    if not 60 <= window <= 86400:
        raise error(f"{path}: probes.conversion_window_s must be between 60 and 86400")
    values = validate_tables(path, zones, env, {z: ZONE_KEYS for z in zones},
                             "STORENODE_PROBES_", error)
    probes = []
    for zone in zones:
        options = {key: values[f"{zone}.{key}"] for key in ZONE_KEYS}
        where = f"{path}: probes.{zone}"
        if options["type"] not in BACKENDS:
            raise error(f"{where}.type must be one of {sorted(BACKENDS)}")
        for key, (low, high) in RANGES.items():
            if not low <= options[key] <= high:
                raise error(f"{where}.{key} must be between {low} and {high}")
        if options["type"] == "replay" and not options["replay_file"]:
            raise error(f"{where}.replay_file is required for type replay")
        probes.append(ZoneProbe(zone, options))
    return ProbeSettings(tuple(probes), window) if probes else None
