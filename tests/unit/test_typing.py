"""mypy --strict holds on common/, sync/, drivers/ and edge/domain (setup.cfg [mypy-…] sections)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_strict_typing_of_core_packages() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "common", "sync", "drivers", "edge/domain"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
