"""Docs are checked: every setting is in the README and in the example config."""

from __future__ import annotations

import tomllib

from edge.config import SCHEMA
from tests.helpers import ROOT


def test_every_setting_is_documented_and_in_the_example() -> None:
    readme = (ROOT / "README.md").read_text()
    example = tomllib.loads((ROOT / "config" / "edge.toml").read_text())
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in readme, f"{section}.{key} missing from README"
            assert key in example.get(section, {}), f"{section}.{key} missing from config/edge.toml"


def test_readme_first_screen_gives_the_two_setup_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:15])
    assert "make run" in first_screen and "make test" in first_screen


def test_every_device_setting_is_documented_and_in_the_example() -> None:
    from edge.lockers.settings import BANK_KEYS
    from edge.probes.settings import PROBE_KEYS, ZONE_KEYS

    readme = (ROOT / "README.md").read_text()
    example = tomllib.loads((ROOT / "config" / "edge.toml").read_text())
    checks = [(f"lockers.<bank>.{k}", example["lockers"]["main"], k) for k in BANK_KEYS]
    checks += [(f"probes.{k}", example["probes"], k) for k in PROBE_KEYS]
    checks += [(f"probes.<zone>.{k}", example["probes"][zone], k)
               for k in ZONE_KEYS for zone in ("pickup", "store")]
    for name, table, key in checks:
        assert f"`{name}`" in readme, f"{name} missing from README"
        assert key in table, f"{name} missing from config/edge.toml"
