"""The technicians' CLI: every command, its errors, and its Example in --help."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edge.cli import cli
from tests.helpers import ROOT, Daemon, login, manual, request


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += _commands(cmd, f"{prefix}{name} ")
        else:
            found.append((prefix + name, cmd))
    return found


def test_every_command_has_an_example_in_its_help() -> None:
    names = [name for name, _ in _commands(cli)]
    assert {"init", "run", "status", "staff add", "db backup", "db check", "db migrate"} <= set(names)
    for name, cmd in _commands(cli):
        assert "Example: storenode " + name in (cmd.help or ""), name


def test_every_command_is_in_the_cli_reference() -> None:
    reference = manual("reference/cli.md")
    for name, _ in _commands(cli):
        assert f"storenode {name}" in reference, name


def test_init_then_refuses_to_overwrite(tmp_path: Path) -> None:
    code, out = run("init", "--data-dir", str(tmp_path / "s"), "--store", "canteen-01",
                    "--tenant", "acme", "--demo")
    assert code == 0 and json.loads(out)["items"] == 30
    assert len(json.loads(out)["tables"]) == 4  # guests can order at the demo tables
    code, out = run("init", "--data-dir", str(tmp_path / "s"), "--store", "canteen-01")
    assert code == 1 and "refusing to overwrite" in out
    code, out = run("init", "--data-dir", str(tmp_path / "t"), "--store", "Bad Id")
    assert code == 1 and "store id" in out


def test_staff_add_validates(tmp_path: Path) -> None:
    d = str(tmp_path / "s")
    run("init", "--data-dir", d, "--store", "s1")
    assert run("staff", "add", "ana", "--pin", "4821", "--role", "cashier", "--data-dir", d)[0] == 0
    code, out = run("staff", "add", "ana", "--pin", "4821", "--role", "cashier", "--data-dir", d)
    assert code == 1 and "staff_exists" in out
    code, out = run("staff", "add", "bo", "--pin", "12", "--role", "cashier", "--data-dir", d)
    assert code == 1 and "PIN" in out
    code, _ = run("staff", "add", "bo", "--pin", "1234", "--role", "chef", "--data-dir", d)
    assert code == 2  # click rejects the unknown role


def test_data_dir_from_environment(tmp_path: Path) -> None:
    d = str(tmp_path / "s")
    run("init", "--store", "s1", env={"STORENODE_DATA_DIR": d})
    code, out = run("status", env={"STORENODE_DATA_DIR": d})
    status = json.loads(out)
    assert code == 0 and status["store"] == "s1" and status["orders"] == 0
    assert status["daemon"]["status"] == "not running"


def test_db_check_backup_and_migrate(tmp_path: Path) -> None:
    d = str(tmp_path / "s")
    run("init", "--data-dir", d, "--store", "s1", "--demo")
    code, out = run("db", "check", "--data-dir", d)
    assert code == 0 and json.loads(out)["integrity"] == ["ok"]
    code, out = run("db", "migrate", "--data-dir", d)
    assert code == 0 and json.loads(out)["applied"] == []
    target = tmp_path / "backup.db"
    code, out = run("db", "backup", str(target), "--data-dir", d)
    assert code == 0 and json.loads(out)["bytes"] > 0
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 30
    code, out = run("db", "backup", str(target), "--data-dir", d)
    assert code == 1 and "refusing to overwrite" in out


def test_db_check_fails_on_a_corrupt_file(tmp_path: Path) -> None:
    d = tmp_path / "s"
    run("init", "--data-dir", str(d), "--store", "s1", "--demo")
    db = d / "storenode.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    for offset in range(4096 * 2, len(raw), 4096):  # scribble over every page after the first
        raw[offset + 100: offset + 400] = b"\xff" * 300
    db.write_bytes(bytes(raw))
    code, out = run("db", "check", "--data-dir", str(d))
    assert code == 1


def test_catalog_import(tmp_path: Path) -> None:
    d = str(tmp_path / "s")
    run("init", "--data-dir", d, "--store", "s1")
    code, out = run("catalog", "import", str(ROOT / "config/demo/catalog.csv"),
                    "--outlet", "store", "--stock", "10", "--data-dir", d)
    assert code == 0 and json.loads(out) == {"imported": 15}
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name\nA,x\n")
    code, out = run("catalog", "import", str(bad), "--data-dir", d)
    assert code == 1 and "cannot import" in out


def test_run_serves_until_sigterm_and_status_sees_it(tmp_path: Path) -> None:
    d = tmp_path / "s"
    run("init", "--data-dir", str(d), "--store", "s1", "--demo")
    run("staff", "add", "manager", "--pin", "1234", "--role", "manager", "--data-dir", str(d))
    daemon = Daemon(d)
    (d / "edge.toml").write_text((d / "edge.toml").read_text().replace(
        "port = 8080", f"port = {daemon.port}"))
    try:
        daemon.start()
        token = login(daemon.url)
        status, _ = request("GET", f"{daemon.url}/api/v1/catalog/items", token=token)
        assert status == 200
        code, out = run("status", "--data-dir", str(d))
        assert json.loads(out)["daemon"]["status"] == "ok"
        assert daemon.kill(signal.SIGTERM) == 0
        assert "POS page at http://127.0.0.1" in daemon.log.read_text()
    finally:
        daemon.stop()


def test_run_with_a_bad_config_says_why(tmp_path: Path) -> None:
    d = tmp_path / "s"
    run("init", "--data-dir", str(d), "--store", "s1")
    (d / "edge.toml").write_text("[http]\nport = 'x'\n")
    code, out = run("run", "--data-dir", str(d))
    assert code == 1 and "edge.toml" in out


@pytest.mark.parametrize("args", [["status"], ["db", "check"], ["staff", "add", "a", "--pin",
                                                                "1234", "--role", "cashier"]])
def test_commands_on_a_missing_store_explain(tmp_path: Path, args: list[str]) -> None:
    code, out = run(*args, "--data-dir", str(tmp_path / "nothing"))
    assert code == 1 and "error:" in out


def test_sync_configure_writes_the_broker_and_status_reports_the_backlog(tmp_path: Path) -> None:
    data = tmp_path / "s"
    assert run("init", "--data-dir", str(data), "--store", "s1", "--demo")[0] == 0
    code, out = run("sync", "configure", "--broker", "http://nope", "--username", "s1",
                    "--password", "x", "--data-dir", str(data))
    assert code == 1 and "mqtt://" in out
    code, out = run("sync", "configure", "--broker", "mqtts://hq.example.com:8883",
                    "--username", "s1", "--password", "pw", "--data-dir", str(data))
    assert code == 0, out
    assert (data / "edge.toml").stat().st_mode & 0o077 == 0  # it holds a password
    from edge.config import load_settings

    settings = load_settings(data, env={})
    assert (settings.broker, settings.broker_username, settings.broker_password) == (
        "mqtts://hq.example.com:8883", "s1", "pw")
    assert settings.store_id == "s1" and settings.port == 8080  # the rest is kept
    code, out = run("sync", "status", "--data-dir", str(data))
    status = json.loads(out)
    assert code == 0 and status["broker"] == "mqtts://hq.example.com:8883"
    assert status["pending"] == status["last_seq"] > 0 and status["applied_seq"] == 0
    assert status["oldest_pending_at"] is not None and status["connected"] is None


def test_db_export_writes_a_table_as_csv_or_json_lines(tmp_path: Path) -> None:
    d = tmp_path / "s"
    assert run("init", "--data-dir", str(d), "--store", "s1", "--demo")[0] == 0
    assert run("staff", "add", "ann", "--pin", "4321", "--role", "cashier",
               "--data-dir", str(d))[0] == 0
    code, out = run("db", "export", "items", "--out", str(tmp_path / "items.csv"),
                    "--data-dir", str(d))
    assert code == 0 and json.loads(out)["rows"] == 30
    rows = list(csv.DictReader((tmp_path / "items.csv").open(encoding="utf-8")))
    assert len(rows) == 30 and {"sku", "name", "price_cents"} <= set(rows[0])
    code, out = run("db", "export", "staff", "--format", "json", "--data-dir", str(d))
    staff = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [s["id"] for s in staff] == ["ann"]
    assert "pin_hash" not in staff[0] and "4321" not in out
    code, out = run("db", "export", "items", "--out", str(tmp_path / "items.csv"),
                    "--data-dir", str(d))
    assert code == 1 and "refusing to overwrite" in out
    code, out = run("db", "export", "nope", "--data-dir", str(d))
    assert code == 1 and "no table 'nope'" in out and "orders" in out
