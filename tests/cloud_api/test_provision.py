"""Provisioning writes the broker's files itself; a real Mosquitto started from them accepts
the printed credentials, refuses wrong ones, enforces the ACL and reloads on SIGHUP."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from cloud import provision
from cloud.config import load_settings
from cloud.errors import StoreExists
from sync import topics
from sync.mqtt import MqttClient
from tests.helpers import free_port

from .conftest import mosquitto

LINE = re.compile(r"^[a-z0-9_-]+:\$7\$1000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")


async def connect(url: str, user: str, password: str, wait: float = 5) -> MqttClient:
    client = MqttClient(url, f"{user}-{os.getpid()}", username=user, password=password,
                        keepalive=5, backoff=(0.2, 0.5))
    client.start()
    try:
        await asyncio.wait_for(client.connected.wait(), wait)
    except TimeoutError:
        pass
    return client


def test_hash_is_mosquitto_passwds_own_format(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "alice", "s3cret"], check=True)
    theirs = passwd.read_text().strip().split(":", 1)[1]
    assert provision.check_mosquitto_hash("s3cret", theirs)
    assert not provision.check_mosquitto_hash("other", theirs)
    _, _, iterations, salt, _ = theirs.split("$")
    import base64
    assert provision.mosquitto_hash("s3cret", int(iterations), base64.b64decode(salt)) == theirs
    assert LINE.match("s1:" + provision.mosquitto_hash("pw"))


async def test_real_broker_takes_the_written_files(tmp_path: Path) -> None:
    hq, port = tmp_path / "hq", free_port()
    url = f"mqtt://127.0.0.1:{port}"
    provision.init_cloud(hq, broker=url)
    s1 = provision.add_store(hq, "s1", "acme")
    cloud_password = load_settings(hq).broker_password
    mosq = hq / "mosquitto"
    for name in ("passwd", "acl", "mosquitto.conf"):
        assert stat.S_IMODE((mosq / name).stat().st_mode) == 0o640, name
    assert all(LINE.match(line) for line in (mosq / "passwd").read_text().splitlines())
    with mosquitto(hq):
        store = await connect(url, "s1", s1["password"])
        cloud = await connect(url, "cloud", cloud_password)
        intruder = await connect(url, "s1", "wrong-password", wait=1.5)
        try:
            assert store.connected.is_set() and cloud.connected.is_set()
            assert not intruder.connected.is_set() and intruder.last_error
            # the ACL: own topics only (v5 PUBACK 0x87 = not authorized)
            assert await store.publish(topics.topic("acme", "s1", "up"), b"x") < 0x80
            assert await store.publish(topics.topic("acme", "s2", "up"), b"x") == 0x87
            # a store added while the broker runs: the pid file leads to SIGHUP and a reload
            assert (mosq / "mosquitto.pid").exists()
            s2 = provision.add_store(hq, "s2", "acme")
            deadline = time.monotonic() + 10
            while "Reloading config" not in (hq / "mosquitto.log").read_text():
                assert time.monotonic() < deadline, "the broker was not sent SIGHUP"
                await asyncio.sleep(0.05)
            late = await connect(url, "s2", s2["password"])
            try:
                assert late.connected.is_set(), late.last_error
            finally:
                await late.close()
        finally:
            for client in (store, cloud, intruder):
                await client.close()


def test_duplicate_reserved_and_invalid_ids_are_refused(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    provision.add_store(hq, "s1", "acme")  # works on a bare data dir too
    before = (hq / "mosquitto" / "passwd").read_text()
    with pytest.raises(StoreExists):
        provision.add_store(hq, "s1", "other")
    for store, tenant in (("cloud", "acme"), ("Bad Id", "acme"), ("s3", "Bad"), ("s3\n", "a")):
        with pytest.raises(ValueError):
            provision.add_store(hq, store, tenant)
    assert (hq / "mosquitto" / "passwd").read_text() == before
    assert [s["store"] for s in provision.list_stores(hq)] == ["s1"]


def test_a_store_in_passwd_but_not_in_the_db_is_still_a_duplicate(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    provision.add_store(hq, "s1", "acme")
    provision.add_user(hq / "mosquitto", "s9", "pw")  # e.g. an id taken by hand
    with pytest.raises(StoreExists):
        provision.add_store(hq, "s9", "acme")
    assert [s["store"] for s in provision.list_stores(hq)] == ["s1"]


def test_stale_pid_file_is_not_signalled(tmp_path: Path) -> None:
    mosq = tmp_path / "mosquitto"
    mosq.mkdir()
    assert provision.reload_broker(mosq) is False  # no pid file
    (mosq / "mosquitto.pid").write_text(f"{os.getpid()}\n")  # a pid, but not a mosquitto
    assert provision.reload_broker(mosq) is False
    (mosq / "mosquitto.pid").write_text("not a pid")
    assert provision.reload_broker(mosq) is False


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    provision.write_atomic(target, "a\n", 0o640)
    provision.write_atomic(target, "b\n", 0o640)
    assert target.read_text() == "b\n" and [p.name for p in tmp_path.iterdir()] == ["passwd"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
