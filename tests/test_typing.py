"""mypy --strict holds on every package: common/, sync/, drivers/, edge/ and cloud/ (setup.cfg
[mypy-…] sections; the strict list only grows)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_strict_typing_of_core_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "common", "sync", "drivers", "edge",
         "cloud"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
