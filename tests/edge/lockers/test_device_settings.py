"""[lockers.<bank>] and [probes] settings: defaults, environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings

from .conftest import add_config


def test_defaults_and_environment_overrides(store_dir: Path) -> None:
    add_config(store_dir, '[lockers.main]\ntype = "serial"\nport = "/dev/ttyUSB0"\n'
                          '[probes.store]\ntype = "fake"\n')
    settings = load_settings(store_dir, env={"STORENODE_LOCKERS_MAIN_COMPARTMENTS": "24",
                                             "STORENODE_LOCKERS_MAIN_KEYPAD": "true",
                                             "STORENODE_PROBES_STORE_RSSI_THRESHOLD": "-60"})
    (bank,) = settings.lockers
    assert (bank.name, bank.compartments, bank.hold_s, bank.poll_s) == ("main", 24, 1800, 1.0)
    assert bank.options["keypad"] is True and bank.options["baudrate"] == 19200
    assert settings.probes is not None and settings.probes.conversion_window_s == 1800
    (zone,) = settings.probes.zones
    assert (zone.zone, zone.rssi_threshold, zone.min_dwell_s) == ("store", -60, 20)


def test_no_device_tables_means_no_devices(store_dir: Path) -> None:
    settings = load_settings(store_dir, env={})
    assert settings.lockers == () and settings.probes is None


@pytest.mark.parametrize(("extra", "message"), [
    ('[lockers.main]\ntype = "serial"\n', "lockers.main.port is required"),
    ('[lockers.main]\ntype = "network"\nhost = "nohost"\n', "host must be HOST:PORT"),
    ('[lockers.main]\ntype = "usb"\n', "lockers.main.type must be one of"),
    ('[lockers.Main]\ntype = "fake"\n', "locker bank name 'Main'"),
    ('[lockers.main]\ncompartments = 99\n', "compartments must be between 1 and 48"),
    ('[lockers.main]\nkeypad = "maybe"\n', "keypad must be true or false"),
    ('[lockers.main]\ncolour = "red"\n', "unknown key(s) ['colour']"),
    ('[probes.kitchen]\ntype = "fake"\n', "unknown probe zone(s) ['kitchen']"),
    ('[probes.pickup]\ntype = "replay"\n', "replay_file is required"),
    ('[probes.pickup]\nrssi_threshold = 10\n', "rssi_threshold must be between -120 and 0"),
    ('[probes]\nconversion_window_s = 5\n', "conversion_window_s must be between 60 and 86400"),
])
def test_bad_device_settings_name_the_key(store_dir: Path, extra: str, message: str) -> None:
    add_config(store_dir, extra)
    with pytest.raises(ConfigError, match="edge.toml") as err:
        load_settings(store_dir, env={})
    assert message in str(err.value)
