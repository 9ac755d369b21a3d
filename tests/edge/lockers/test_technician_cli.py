"""``storenode locker open``, ``storenode probe scan`` and ``storenode doctor``."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from click.testing import CliRunner

from edge.cli import cli
from edge.devices.doctor import clock_row, disk_row
from tests.helpers import Daemon, free_port, make_store, request

from .conftest import add_config, events

FAKE_DEVICES = ('[lockers.main]\ntype = "fake"\ncompartments = 4\n'
                '[probes.pickup]\ntype = "fake"\n')


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_locker_open_without_a_daemon_drives_the_board_and_records_it(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    add_config(store, FAKE_DEVICES)
    code, out = run("locker", "open", "main", "2", "--data-dir", str(store))
    assert code == 0, out
    assert json.loads(out) == {"bank": "main", "compartment": 2, "by": "staff",
                               "order_id": None, "via": "board"}
    assert [e["compartment"] for e in events(store, "locker.opened")] == [2]
    code, out = run("locker", "open", "side", "1", "--data-dir", str(store))
    assert code == 1 and "no locker bank 'side'" in out
    code, out = run("locker", "open", "main", "5", "--data-dir", str(store))
    assert code == 1 and "compartments 1..4" in out


def test_locker_open_with_a_missing_serial_port_says_so(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    add_config(store, '[lockers.main]\ntype = "serial"\nport = "/dev/ttyNOPE9"\n')
    code, out = run("locker", "open", "main", "1", "--data-dir", str(store))
    assert code == 1 and "error: locker board unavailable" in out and "ttyNOPE9" in out
    assert "Traceback" not in out
    assert events(store, "locker.opened") == []  # nothing opened, nothing recorded


def test_locker_open_goes_through_the_running_daemon(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    port = free_port()
    add_config(store, FAKE_DEVICES)
    (store / "edge.toml").write_text((store / "edge.toml").read_text().replace(
        "port = 8080", f"port = {port}"))
    daemon = Daemon(store, port=port)
    daemon.start()
    try:
        code, out = run("locker", "open", "main", "3", "--release", "--data-dir", str(store))
        assert code == 0, out
        assert json.loads(out)["via"] == "daemon"
        status, health = request("GET", f"{daemon.url}/api/v1/health")
        assert health["devices"]["locker:main"]["state"] == "ok"
        code, out = run("doctor", "--data-dir", str(store))
        rows = {r["check"]: r for r in json.loads(out)["checks"]}
        assert rows["locker main"]["detail"].startswith("daemon: ok"), rows
    finally:
        daemon.stop()


def test_probe_scan_with_a_missing_adapter_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    code, out = run("probe", "scan", "--seconds", "0.1", "--adapter", "hci99",
                    "--data-dir", str(store))
    assert code == 1 and "error: zone scan: BLE adapter hci99 unavailable" in out
    assert "Traceback" not in out


def test_probe_scan_of_a_replay_zone_counts_and_records(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    capture = tmp_path / "field.jsonl"
    capture.write_text("".join(
        json.dumps({"t": i * 0.01, "address": f"phone-{i % 3}", "rssi": -60 - 10 * (i % 3),
                    "company_ids": [76]}) + "\n" for i in range(9)))
    add_config(store, f'[probes.pickup]\ntype = "replay"\nreplay_file = "{capture}"\n'
                      "rssi_threshold = -75\n")
    record = tmp_path / "again.jsonl"
    code, out = run("probe", "scan", "--seconds", "0.5", "--record", str(record),
                    "--data-dir", str(store))
    assert code == 0, out
    zone = json.loads(out)["zones"]["pickup"]
    assert (zone["adverts"], zone["devices"], zone["near_devices"]) == (9, 3, 2)
    lines = record.read_text().splitlines()
    assert len(lines) == 9 and not any("phone-" in line for line in lines)


def test_doctor_rows_and_exit_code(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s", demo=False)
    code, out = run("doctor", "--data-dir", str(store))
    result = json.loads(out)
    checks = {r["check"]: r["status"] for r in result["checks"]}
    assert {"printers", "lockers", "ble", "broker", "disk", "clock"} <= set(checks)
    assert checks["lockers"] == checks["ble"] == checks["broker"] == "skip"
    assert code == 0 and result["ok"]

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    add_config(store, '[lockers.main]\ntype = "serial"\nport = "/dev/ttyNOPE9"\n'
                      '[probes.pickup]\ntype = "bleak"\nadapter = "hci99"\n')
    text = (store / "edge.toml").read_text().replace(
        'broker = ""', f'broker = "mqtt://127.0.0.1:{dead}"')
    (store / "edge.toml").write_text(text)
    code, out = run("doctor", "--data-dir", str(store))
    result = json.loads(out)
    assert code == 1 and not result["ok"]
    assert set(result["failed"]) == {"locker main", "ble pickup", "broker"}


def test_disk_and_clock_checks(tmp_path: Path) -> None:
    assert disk_row(tmp_path)["status"] in ("ok", "warn")
    assert clock_row(lambda name: None)["status"] == "warn"  # no timedatectl: unknown sync
