"""``storenode printer test`` and ``storenode printer reprint``; the demo store's printers."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

from click.testing import CliRunner

from drivers.printer import PrinterStatus
from drivers.printer.fake import FakeNetworkPrinter
from edge import keys
from edge.cli import cli
from edge.config import load_settings

from .conftest import AppFactory, cashier, configure, place


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


async def test_printer_test_prints_a_test_page(store_dir: Path, fake: FakeNetworkPrinter) -> None:
    configure(store_dir, f'\n[printers.kitchen]\ntype = "network"\n'
                         f'address = "127.0.0.1:{fake.port}"\ntimeout_s = 0.5\n')
    code, out = await asyncio.to_thread(run, "printer", "test", "kitchen",
                                        "--data-dir", str(store_dir))
    assert code == 0, out
    assert json.loads(out) == {"printer": "kitchen", "type": "network", "printed": True,
                               "status_before": "ok", "status": "ok"}
    assert "打印测试 TEST".encode("gb18030") in fake.received
    fake.status = PrinterStatus(paper_out=True)
    code, out = await asyncio.to_thread(run, "printer", "test", "kitchen",
                                        "--data-dir", str(store_dir))
    assert code == 1 and "printer kitchen: paper_out" in out
    code, out = run("printer", "test", "bar", "--data-dir", str(store_dir))
    assert code == 1 and "no printer 'bar'" in out


async def test_printer_reprint_from_the_cli_is_printed_by_the_daemon(
        edge_app: AppFactory, store_dir: Path) -> None:
    client = await edge_app('\n[printers.front]\ntype = "file"\npath = "prints/front.prn"\n'
                            'receipts = true\n')
    order = await place(await cashier(client), "cli-reprint-1")
    prints = store_dir / "prints" / "front.prn"
    db = client.server.app[keys.DB]

    async def receipt_printed() -> bool:  # the bytes reach the file before the job's state
        rows = await db.read(lambda conn: conn.execute(
            "SELECT state FROM print_jobs WHERE kind = 'receipt'").fetchall())
        return [r[0] for r in rows] == ["printed"]

    async with asyncio.timeout(10):
        while (not prints.exists() or prints.read_bytes().count(b"\x1dV\x00") < 1
               or not await receipt_printed()):
            await asyncio.sleep(0.05)
    code, out = await asyncio.to_thread(run, "printer", "reprint", order["id"], "--kind",
                                        "receipt", "--data-dir", str(store_dir))
    assert code == 0, out
    # the wok ticket has no printer here (unrouted); the receipt was printed, its reprint waits
    assert [j["state"] for j in json.loads(out)["jobs"]] == ["unrouted", "printed", "queued"]
    async with asyncio.timeout(10):  # the daemon's idle worker looks every poll_s (2 s)
        while prints.read_bytes().count(b"\x1dV\x00") < 2:
            await asyncio.sleep(0.05)
    assert prints.read_bytes().count("重印 REPRINT".encode("gb18030")) == 1
    code, out = run("printer", "reprint", order["id"], "--kind", "label",
                    "--data-dir", str(store_dir))
    assert code == 1 and "nothing_to_print" in out


def test_the_demo_store_prints_to_files(tmp_path: Path) -> None:
    code, out = run("init", "--data-dir", str(tmp_path / "s"), "--store", "demo", "--demo")
    assert code == 0, out
    printers = load_settings(tmp_path / "s").printing.printers
    assert printers["kitchen"].type == "file" and printers["kitchen"].backup == "front"
    assert printers["front"].path == str(tmp_path / "s" / "prints" / "front.prn")
    catalog = (Path(__file__).parents[3] / "config" / "demo" / "catalog.csv").read_text()
    stations = {row.split(",")[5] for row in catalog.splitlines()[1:]} - {""}
    assert stations <= set(printers["kitchen"].stations)  # no demo ticket is unrouted
    example = tomllib.loads((Path(__file__).parents[3] / "config" / "edge.toml").read_text())
    assert example["printers"]["kitchen"]["type"] == "file"
