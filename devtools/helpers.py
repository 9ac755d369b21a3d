"""Small helpers for a local stack: a demo store, free ports, daemons as processes, HTTP calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edge import admin as service

ROOT = Path(__file__).resolve().parent.parent
STAFF = {"manager": "1234", "cashier": "0000", "kitchen": "1111", "technician": "2222"}


def make_store(data_dir: Path, store_id: str = "test-store", demo: bool = True) -> Path:
    service.init_store(data_dir, store_id, "acme")
    if demo:
        service.import_catalog(data_dir, store_id, ROOT / "config/demo/catalog.csv", None, 100)
    for role, pin in STAFF.items():
        service.add_staff(data_dir, store_id, role, pin, role)
    return data_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """``storenode run`` in a child process, for tests that kill or signal it."""

    def __init__(self, data_dir: Path, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir, self.port = data_dir, port or free_port()
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "daemon.log"
        # a port free_port picked can be taken by another process before the daemon binds it:
        # its first start then picks another (a port given, or one clients already use, stays)
        self._may_move = port is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> float:
        moves = 2 if self._may_move else 0
        while True:
            before = self.log.stat().st_size if self.log.exists() else 0
            try:
                took = self._start(timeout)
            except RuntimeError:
                if not moves or b"address already in use" not in self.log.read_bytes()[before:]:
                    raise
                moves -= 1
                self.port = free_port()
                continue
            self._may_move = False  # clients know this port now: a restart keeps it
            return took

    def _start(self, timeout: float) -> float:
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=self.env,
            )
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log.read_text()[-2000:]}")
            try:
                request("GET", f"{self.url}/api/v1/health")
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"daemon not serving: {self.log.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)


def request(method: str, url: str, body: Any = None, token: str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def login(base_url: str, staff: str = "manager") -> str:
    status, body = request("POST", f"{base_url}/api/v1/auth/login",
                           {"staff": staff, "pin": STAFF[staff]})
    assert status == 200, body
    return str(body["token"])
