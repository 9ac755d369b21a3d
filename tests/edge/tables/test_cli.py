"""``storenode tables``: add, list, rotate, and a QR sheet whose codes scan to the pages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner

from edge.cli import cli


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_add_list_rotate(store_dir: Path) -> None:
    code, out = _run("tables", "add", "T7", "--name", "露台7", "--seats", "4", "--area",
                     "terrace", "--data-dir", str(store_dir))
    assert code == 0, out
    table = json.loads(out)
    assert table["name"] == "露台7" and table["url"] == f"/t/{table['token']}"
    code, out = _run("tables", "add", "T7", "--name", "x", "--seats", "4",
                     "--data-dir", str(store_dir))
    assert code == 1 and "table_exists" in out
    code, out = _run("tables", "add", "T8", "--name", "x", "--seats", "0",
                     "--data-dir", str(store_dir))
    assert code == 1 and "seats" in out
    code, out = _run("tables", "list", "--data-dir", str(store_dir))
    assert code == 0 and "T7" in [t["id"] for t in json.loads(out)]
    code, out = _run("tables", "rotate", "T7", "--data-dir", str(store_dir))
    assert code == 0 and json.loads(out)["token"] != table["token"]
    code, out = _run("tables", "rotate", "NOPE", "--data-dir", str(store_dir))
    assert code == 1 and "unknown_table" in out


def test_the_qr_sheet_scans_to_each_tables_page(store_dir: Path, tmp_path: Path,
                                                tokens: dict[str, str]) -> None:
    pdf = tmp_path / "tables.pdf"
    code, out = _run("tables", "qr", "--out", str(pdf), "--base-url", "http://10.0.0.5:8080/",
                     "--data-dir", str(store_dir))
    assert code == 0, out
    assert json.loads(out)["pages"] == 1 and pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(pdf), str(tmp_path / "page")],
                   check=True)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", *map(str, tmp_path.glob("page*.png"))],
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(scanned) == sorted(f"http://10.0.0.5:8080/t/{t}" for t in tokens.values())
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "包间1" in text and "扫码点餐" in text
    code, out = _run("tables", "qr", "NOPE", "--out", str(pdf), "--data-dir", str(store_dir))
    assert code == 1 and "unknown_table" in out
