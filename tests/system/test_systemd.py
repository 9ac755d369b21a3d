"""The systemd unit verifies, and the daemon speaks sd_notify on a real datagram socket."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from common import sdnotify
from tests.helpers import ROOT, Daemon

UNIT = ROOT / "systemd" / "storenode-edge.service"


def test_unit_declares_notify_watchdog_and_hardening() -> None:
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "User=storenode",
                 "StateDirectory=storenode", "ProtectSystem=strict", "NoNewPrivileges=yes"):
        assert line in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify resolves ExecStart: point it at a real executable in a copy of the unit
    unit = tmp_path / "storenode-edge.service"
    exe = shutil.which("true")
    unit.write_text(UNIT.read_text().replace("/opt/storenode/.venv/bin/storenode", str(exe)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in result.stderr.splitlines()
                if "storenode-edge.service" in line and "Documentation" not in line
                and "Failed to resolve unit" not in line]
    assert result.returncode == 0 or not problems, result.stderr
    assert not problems, result.stderr


def _listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(15)
    return sock


def test_notify_sends_datagram_and_is_quiet_without_socket(tmp_path: Path) -> None:
    sock = _listen(tmp_path / "notify")
    try:
        assert sdnotify.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "notify")})
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()
    assert sdnotify.notify("READY=1", {}) is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "20000000"}) == 10.0
    assert sdnotify.watchdog_interval({}) is None
    assert sdnotify.watchdog_interval({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None


def test_daemon_sends_ready_watchdog_and_stopping(store_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "notify"
    sock = _listen(path)
    daemon = Daemon(store_dir, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
    try:
        daemon.start()
        messages = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 2:
            messages.append(sock.recv(4096).decode())
        assert any(m.startswith("READY=1") for m in messages), messages
        assert sum(m == "WATCHDOG=1" for m in messages) >= 2, messages
        daemon.stop()
        assert daemon.proc is not None and daemon.proc.returncode == 0
        sock.settimeout(2)
        rest = []
        try:
            while True:
                rest.append(sock.recv(4096).decode())
        except TimeoutError:
            pass
        assert "STOPPING=1" in rest, rest
    finally:
        daemon.stop()
        sock.close()
