"""Docs are checked: every setting is in the manual and in the example config; the manual
builds strictly; the README stays a short front door."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from edge.config import SCHEMA
from tests.helpers import ROOT, manual


def test_every_setting_is_documented_and_in_the_example() -> None:
    reference = manual("reference/edge-config.md")
    example = tomllib.loads((ROOT / "config" / "edge.toml").read_text())
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"`{section}.{key}`" in reference, f"{section}.{key} missing from the manual"
            assert key in example.get(section, {}), f"{section}.{key} missing from config/edge.toml"


def test_readme_first_screen_gives_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    first_screen = "\n".join(readme[:15])
    assert "make run" in first_screen and "make test" in first_screen
    assert len(readme) <= 150


def test_every_device_setting_is_documented_and_in_the_example() -> None:
    from edge.lockers.settings import BANK_KEYS
    from edge.probes.settings import PROBE_KEYS, ZONE_KEYS

    devices = manual("devices.md")
    example = tomllib.loads((ROOT / "config" / "edge.toml").read_text())
    checks = [(f"lockers.<bank>.{k}", example["lockers"]["main"], k) for k in BANK_KEYS]
    checks += [(f"probes.{k}", example["probes"], k) for k in PROBE_KEYS]
    checks += [(f"probes.<zone>.{k}", example["probes"][zone], k)
               for k in ZONE_KEYS for zone in ("pickup", "store")]
    for name, table, key in checks:
        assert f"`{name}`" in devices, f"{name} missing from the manual"
        assert key in table, f"{name} missing from config/edge.toml"


def test_the_manual_builds_strictly_and_every_page_is_in_its_nav(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert str(page.relative_to(ROOT / "docs")) in nav, f"{page} is not in mkdocs.yml's nav"


def test_no_issue_numbers_in_the_manual() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        found = re.findall(r"\bissues? \d+", page.read_text(), re.I)
        assert not found, f"{page}: {found}"
