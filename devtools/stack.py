"""End-to-end plumbing: an HQ data dir provisioned like production, its own Mosquitto
started from the files provisioning wrote, HQ and edges in-process or as child processes.

Every store's broker credentials come from ``provision.add_store`` (as
``storenode-cloud store add`` prints them), so the ACL and password file under test are
the ones an operator would run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from cloud.broker import provision
from edge.app import create_app as create_edge
from edge.config import load_settings as edge_settings

from devtools.api import Api
from devtools.helpers import ROOT, Daemon, free_port, make_store, request

TENANT = "acme"
ADMIN = ("admin", "admin-pass-1")


class Hq:
    """A provisioned HQ data dir and its broker (a real Mosquitto from the generated config)."""

    def __init__(self, work: Path, stores: list[str], database: str | None = None,
                 broker_port: int | None = None) -> None:
        self.dir = work / "hq"
        self.broker_port = broker_port or free_port()
        self.database = database or f"sqlite:///{self.dir / 'hq.db'}"
        provision.init_cloud(self.dir, database=self.database, broker=self.broker_url,
                             port=free_port())
        self.creds = {s: provision.add_store(self.dir, s, TENANT) for s in stores}
        provision.add_hq_user(self.dir, ADMIN[0], ADMIN[1], "hq_admin")
        self.broker: subprocess.Popen[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    @property
    def broker_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.broker_port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- broker ------------------------------------------------------------------------
    def start_broker(self) -> None:
        conf = self.dir / "mosquitto" / "mosquitto.conf"
        with (self.dir / "mosquitto.log").open("ab") as log:
            self.broker = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log,
                                           stderr=subprocess.STDOUT)
        wait_port(self.broker_port, self.broker, self.dir / "mosquitto.log")

    def kill_broker(self, sig: int = signal.SIGKILL) -> None:
        if self.broker is not None and self.broker.poll() is None:
            self.broker.send_signal(sig)
            self.broker.wait(timeout=10)

    # -- HQ as a child process (for kill -9) ---------------------------------------------
    def start(self, broker_url: str | None = None, env: dict[str, str] | None = None) -> None:
        """Start HQ on ``self.port``. The first start takes another free port when that one
        was taken meanwhile (``free_port`` only found it free: an outgoing connection may get
        it as its own port before HQ binds it); a restart keeps its port, which clients use."""
        log_path = self.dir / "hq.log"
        for attempt in (1, 2, 3):
            args = [sys.executable, "-c", "from cloud.cli import main; main()", "run",
                    "--data-dir", str(self.dir), "--host", "127.0.0.1", "--port", str(self.port)]
            if broker_url:
                args += ["--broker", broker_url]
            first = self.proc is None
            offset = log_path.stat().st_size if log_path.exists() else 0
            with log_path.open("ab") as log:
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, **(env or {})}, cwd=ROOT)
            try:
                wait_http(f"{self.url}/api/v1/health", self.proc, log_path)
                return
            except RuntimeError:
                with log_path.open("rb") as log:
                    log.seek(offset)
                    taken = b"address already in use" in log.read()
                if not (first and taken and attempt < 3):
                    raise
                self.proc = None
                self.port = free_port()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def cloud_password(self) -> str:
        """The cloud's own broker password (user ``cloud``)."""
        from cloud.config import load_settings

        return load_settings(self.dir).broker_password

    def token(self) -> str:
        status, body = request("POST", f"{self.url}/api/v1/auth/login",
                               {"user": ADMIN[0], "password": ADMIN[1]})
        assert status == 200, body
        return str(body["token"])

    def stop_all(self) -> None:
        self.kill(signal.SIGTERM)
        self.kill_broker(signal.SIGTERM)


def edge_env(hq: Hq, store: str, broker_url: str | None = None,
             keepalive: int = 3) -> dict[str, str]:
    creds = hq.creds[store]
    return {"STORENODE_SYNC_BROKER": broker_url or hq.broker_url,
            "STORENODE_SYNC_USERNAME": creds["username"],
            "STORENODE_SYNC_PASSWORD": creds["password"],
            "STORENODE_SYNC_KEEPALIVE_S": str(keepalive)}


def make_edge(work: Path, store: str) -> Path:
    return make_store(work / store, store) if not (work / store).exists() else work / store


async def edge_app(work: Path, hq: Hq, store: str, aiohttp_client: Any,
                   broker_url: str | None = None) -> TestClient:
    data = make_edge(work, store)
    settings = edge_settings(data, {**os.environ, **edge_env(hq, store, broker_url)})
    client: TestClient = await aiohttp_client(create_edge(settings))
    return client


def edge_daemon(work: Path, hq: Hq, store: str, broker_url: str | None = None) -> Daemon:
    data = make_edge(work, store)
    return Daemon(data, env=edge_env(hq, store, broker_url))


async def eventually(check: Any, timeout: float = 20, every: float = 0.1) -> Any:
    """Await ``check()`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"not within {timeout} s; last result {last!r}")


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-2000:]) from None
            time.sleep(0.05)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text()[-3000:]}")
        try:
            request("GET", url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(log.read_text()[-3000:]) from None
            time.sleep(0.05)


class HqApi(Api):
    """The HQ API client (same call shape as the edge's ``Api``)."""


async def hq_login(client: TestClient) -> HqApi:
    resp = await client.post("/api/v1/auth/login", json={"user": ADMIN[0], "password": ADMIN[1]})
    assert resp.status == 200, await resp.text()
    return HqApi(client, (await resp.json())["token"])


# -- blocking helpers for the process-level fault tests (tests/system/test_sync_faults.py)
def wait_until(check: Any, timeout: float = 30, every: float = 0.1, what: str = "") -> Any:
    """Call ``check()`` until it returns something truthy (a thread-blocking ``eventually``)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what or 'condition'} not within {timeout} s; last {last!r}")


def hq_db(hq: Hq) -> Any:
    """A ``CloudDb`` on HQ's database, for reads the HQ API does not offer (close it)."""
    from cloud.database import CloudDb

    return CloudDb.open(hq.database)


def hq_get(hq: Hq, token: str, path: str) -> Any:
    status, body = request("GET", f"{hq.url}{path}", token=token)
    assert status == 200, (path, status, body)
    return body


def hq_store(hq: Hq, token: str, store: str) -> dict[str, Any]:
    return next(s for s in hq_get(hq, token, "/api/v1/stores") if s["store"] == store)


def edge_sync(url: str) -> dict[str, Any]:
    """The edge's ``sync`` block of GET /api/v1/health."""
    status, body = request("GET", f"{url}/api/v1/health")
    assert status == 200, body
    return dict(body["sync"])
