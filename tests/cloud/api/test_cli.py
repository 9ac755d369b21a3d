"""``storenode-cloud``: every command, its errors, and the processes it runs (``run`` and
``ingest`` against a real broker, stopped with SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloud.cli import cli
from sync import messages
from tests.cloud.sync.sim import EdgeSim
from tests.helpers import free_port, manual, request

from .conftest import mosquitto
from .test_link import Edge

ENTRY = "from cloud.cli import main; main()"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += commands(cmd, f"{prefix}{name} ")
        else:
            found.append(prefix + name)
    return found


def test_every_command_has_an_example_and_is_in_the_cli_reference() -> None:
    readme = manual()  # the CLI reference, or the page of the capability the command serves
    names = commands(cli)
    assert {"init", "run", "ingest", "store add", "user add", "stores"} <= set(names)
    for name in names:
        command = cli
        for part in name.split():
            command = command.commands[part]  # type: ignore[attr-defined]
        assert f"Example: storenode-cloud {name}" in (command.help or ""), name
        assert f"storenode-cloud {name}" in readme, name


def test_init_store_user_and_stores(tmp_path: Path) -> None:
    d = str(tmp_path / "hq")
    code, out = run("init", "--data-dir", d, "--broker", "mqtt://127.0.0.1:1884", "--port", "8099")
    assert code == 0, out
    assert json.loads(out)["database"] == f"sqlite:///{tmp_path / 'hq' / 'cloud.db'}"
    assert 'port = 8099' in (tmp_path / "hq" / "cloud.toml").read_text()
    code, out = run("init", "--data-dir", d)
    assert code == 1 and "refusing to overwrite" in out

    code, out = run("store", "add", "canteen-01", "--tenant", "acme", "--data-dir", d)
    assert code == 0, out
    creds = json.loads(out)
    assert set(creds) == {"store", "tenant", "username", "password"}
    assert creds["username"] == "canteen-01" and len(creds["password"]) >= 24
    code, out = run("store", "add", "canteen-01", "--data-dir", d)
    assert code == 1 and out.startswith("error: StoreExists")
    assert run("store", "add", "Bad Id", "--data-dir", d)[0] == 1

    assert run("user", "add", "admin", "--password", "long-enough", "--role", "hq_admin",
               "--data-dir", d) == (0, json.dumps({"user": "admin", "role": "hq_admin"},
                                                  indent=2) + "\n")
    code, out = run("user", "add", "admin", "--password", "long-enough", "--role", "analyst",
                    "--data-dir", d)
    assert code == 1 and "UserExists" in out
    code, out = run("user", "add", "li", "--password", "short", "--role", "analyst",
                    "--data-dir", d)
    assert code == 1 and "at least 8" in out
    assert run("user", "add", "li", "--password", "long-enough", "--role", "boss",
               "--data-dir", d)[0] == 2  # click's usage error

    code, out = run("stores", env={"STORENODE_CLOUD_DATA_DIR": d})
    assert code == 0 and [s["store"] for s in json.loads(out)] == ["canteen-01"]


def test_bad_settings_fail_with_file_and_key(tmp_path: Path) -> None:
    d = tmp_path / "hq"
    run("init", "--data-dir", str(d))
    (d / "cloud.toml").write_text("[http]\nport = 'eighty'\n")
    code, out = run("stores", "--data-dir", str(d))
    assert code == 1 and "cloud.toml: http.port must be an integer" in out
    code, out = run("run", "--data-dir", str(d), "--port", "1")
    assert code == 1 and "http.port" in out
    code, out = run("init", "--data-dir", str(tmp_path / "x"), "--database", "mysql://db")
    assert code == 1 and "db.url" in out and not (tmp_path / "x" / "cloud.toml").exists()


class Process:
    """``storenode-cloud <command>`` in a child process."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log = data_dir / f"{args[0]}.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", ENTRY, *args],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, **(env or {})})

    def wait_for_log(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text():
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def provisioned(tmp_path: Path) -> Iterator[tuple[Path, str, dict[str, str]]]:
    hq, url = tmp_path / "hq", f"mqtt://127.0.0.1:{free_port()}"
    assert run("init", "--data-dir", str(hq), "--broker", url)[0] == 0
    code, out = run("store", "add", "s1", "--tenant", "acme", "--data-dir", str(hq))
    assert code == 0, out
    run("user", "add", "admin", "--password", "admin-pass", "--role", "hq_admin",
        "--data-dir", str(hq))
    with mosquitto(hq):
        yield hq, url, json.loads(out)


async def test_run_serves_sees_a_birth_and_stops_on_sigterm(
        provisioned: tuple[Path, str, dict[str, str]], tmp_path: Path) -> None:
    hq, url, creds = provisioned
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(15)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    daemon = Process(hq, "run", "--data-dir", str(hq), "--port", str(port),
                     env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    edge = Edge(url, "s1", creds["password"])
    try:
        daemon.wait_for_log("serving the HQ API")
        assert notify.recv(4096).startswith(b"READY=1")
        await edge.start()
        await edge.state(messages.birth(1, 0, "0.1.0"))
        _, token = request("POST", f"{base}/api/v1/auth/login",
                           {"user": "admin", "password": "admin-pass"})
        deadline = time.monotonic() + 10
        while True:
            status, stores = await asyncio.to_thread(request, "GET", f"{base}/api/v1/stores",
                                                     token=token["token"])
            if status == 200 and stores[0]["online"]:
                break
            assert time.monotonic() < deadline, stores
            await asyncio.sleep(0.05)
        assert daemon.stop() == 0
        assert notify.recv(4096) == b"STOPPING=1"
    finally:
        daemon.stop()
        await edge.client.close()
        notify.close()


async def test_ingest_worker_applies_and_acks(
        provisioned: tuple[Path, str, dict[str, str]]) -> None:
    hq, _, creds = provisioned
    worker = Process(hq, "ingest", "--data-dir", str(hq))
    edge = Edge(provisioned[1], "s1", creds["password"])
    try:
        worker.wait_for_log("ingest worker")
        await edge.start()
        sim = EdgeSim("s1")
        sim.fill(5)
        n = len(sim.events)
        deadline = time.monotonic() + 10
        while True:  # until the worker's shared subscription is in place
            await edge.client.publish(edge.topic("up"), sim.payload(1, n))
            try:
                assert await asyncio.wait_for(edge.got["ack"].get(), 0.5) == {
                    "v": 1, "applied_seq": n, "epoch": 1}
                break
            except TimeoutError:
                assert time.monotonic() < deadline, worker.log.read_text()
        assert worker.stop() == 0, worker.log.read_text()
    finally:
        worker.stop()
        await edge.client.close()
    code, out = run("stores", "--data-dir", str(hq))
    assert json.loads(out)[0]["applied_seq"] == n


def test_ingest_without_a_broker_fails(tmp_path: Path) -> None:
    code, out = run("ingest", "--data-dir", str(tmp_path / "hq"))
    assert code == 1 and "broker" in out
