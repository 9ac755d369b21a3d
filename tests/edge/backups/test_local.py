"""Encrypted local backups: the technician's key, a copy nobody without it can read, the last
N kept, the database back out with the key, the daemon's timer, clear errors."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from common.config import ConfigError
from edge import keys
from edge.backups.timer import backup_loop
from edge.cli import cli
from edge.config import load_settings
from edge.db.database import check_integrity, db_path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def stick(store_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A USB stick as backup.dir, and the technician's identity file (kept off the box)."""
    (tmp_path / "usb").mkdir()
    key = tmp_path / "technician.key"
    code, out = _run("backup", "keygen", "--out", str(key))
    assert code == 0, out
    recipient = json.loads(out)["recipient"]
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[backup]\ndir = "{tmp_path / "usb"}"\nrecipient = "{recipient}"\nkeep = 2\n')
    return tmp_path / "usb", key


def test_keygen_writes_a_private_identity_and_never_overwrites(tmp_path: Path) -> None:
    key = tmp_path / "t.key"
    code, out = _run("backup", "keygen", "--out", str(key))
    assert code == 0 and json.loads(out)["recipient"].startswith("age1")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and "AGE-SECRET-KEY-" in key.read_text()
    code, out = _run("backup", "keygen", "--out", str(key))
    assert code == 1 and "exists" in out


def test_an_encrypted_copy_decrypts_to_the_database_and_the_last_n_are_kept(
        store_dir: Path, stick: tuple[Path, Path], tmp_path: Path) -> None:
    usb, key = stick
    made = [json.loads(_run("backup", "run", "--data-dir", str(store_dir))[1]) for _ in range(3)]
    copies = sorted(usb.iterdir())
    assert [c.name for c in copies] == sorted(Path(m["backup"]).name for m in made[1:])
    assert made[2]["removed"] == [Path(made[0]["backup"]).name]
    raw = copies[-1].read_bytes()
    assert raw.startswith(b"age-encryption.org/v1") and b"SQLite format 3" not in raw
    assert b"C001" not in raw  # no catalog, member or order text in the clear
    out = tmp_path / "restored.db"
    code, answer = _run("backup", "decrypt", str(copies[-1]), "--identity", str(key),
                        "--out", str(out))
    assert code == 0, answer
    assert check_integrity(out) == ["ok"]
    with sqlite3.connect(out) as restored, sqlite3.connect(db_path(store_dir)) as live:
        assert restored.execute("SELECT COUNT(*) FROM items").fetchone() == \
            live.execute("SELECT COUNT(*) FROM items").fetchone()
    assert _run("backup", "decrypt", str(copies[-1]), "--identity", str(key),
                "--out", str(out))[0] == 1  # never overwrites
    other = tmp_path / "other.key"
    _run("backup", "keygen", "--out", str(other))
    code, answer = _run("backup", "decrypt", str(copies[-1]), "--identity", str(other),
                        "--out", str(tmp_path / "x.db"))
    assert code == 1 and "cannot decrypt" in answer and not (tmp_path / "x.db").exists()
    # the last copy is recorded for health and doctor
    assert json.loads((store_dir / "last-backup.json").read_text())["target"] == made[2]["backup"]
    assert not list(store_dir.glob(".backup-*"))  # no plain copy left on the box


def test_bad_settings_and_a_missing_stick_are_clear_errors(store_dir: Path,
                                                          tmp_path: Path) -> None:
    with (store_dir / "edge.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[backup]\ndir = "{tmp_path / "nowhere"}"\n')
    with pytest.raises(ConfigError, match="backup.recipient"):
        load_settings(store_dir)
    code, out = _run("backup", "run", "--data-dir", str(store_dir))
    assert code == 1 and "backup.recipient" in out


def test_a_missing_stick_fails_clearly(store_dir: Path, stick: tuple[Path, Path]) -> None:
    usb, _ = stick
    usb.rmdir()
    code, out = _run("backup", "run", "--data-dir", str(store_dir))
    assert code == 1 and "is the stick in" in out


async def test_the_daemon_timer_makes_copies(store_dir: Path, stick: tuple[Path, Path]) -> None:
    usb, _ = stick
    app = web.Application()
    app[keys.SETTINGS] = load_settings(store_dir)
    task = asyncio.create_task(backup_loop(app, 0.05))
    for _ in range(200):
        if list(usb.iterdir()):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(usb.glob("test-store-*.db.age"))
