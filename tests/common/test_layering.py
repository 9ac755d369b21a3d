"""The dependency direction of ARCHITECTURE §1, as import-linter contracts (setup.cfg): edge
and cloud never import each other, common imports none of the others, sync and drivers only
common, no import cycles anywhere (not even one hidden inside a function). A wrong import
fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _lint_copy(tmp_path: Path, path: str, source: str) -> str:
    """lint-imports on a copy of the tree with one module added; its report."""
    for package in ("common", "sync", "drivers", "edge", "cloud"):
        subprocess.run(["cp", "-r", str(ROOT / package), str(tmp_path / package)], check=True)
    (tmp_path / "setup.cfg").write_text((ROOT / "setup.cfg").read_text())
    (tmp_path / path).write_text(source)
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode != 0, done.stdout[-3000:]
    return done.stdout


def test_a_service_importing_the_other_breaks_a_contract(tmp_path: Path) -> None:
    """The contracts can fail: a copy of the tree where cloud imports edge is refused."""
    report = _lint_copy(tmp_path, "cloud/leak.py", "from edge.api import schemas  # noqa: F401\n")
    assert "cloud.leak -> edge.api.schemas" in report, report[-3000:]


def test_a_cycle_hidden_inside_a_function_breaks_a_contract(tmp_path: Path) -> None:
    """The database engine calling up into a capability, even lazily, is a cycle: refused."""
    report = _lint_copy(tmp_path, "edge/db/leak.py",
                        "def lazy() -> None:\n    from edge.orders import rules  # noqa: F401\n")
    assert "No cycles are allowed in edge" in report, report[-3000:]
