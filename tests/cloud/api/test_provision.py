"""Provisioning writes the broker's files itself; a real Mosquitto started from them accepts
the printed credentials, refuses wrong ones, enforces the ACL at SUBSCRIBE time, binds client
ids to usernames, and learns of a store added while it runs through its control topic."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cloud.broker import dynsec, provision
from cloud.config import load_settings
from cloud.errors import StoreExists
from sync import topics
from sync.mqtt import MqttClient
from tests.helpers import free_port

from .conftest import mosquitto

LINE = re.compile(r"^[a-z0-9_-]+:\$7\$1000\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$")


async def connect(url: str, user: str, password: str, wait: float = 5,
                  client_id: str | None = None) -> MqttClient:
    client = MqttClient(url, client_id or dynsec.edge_client_id(user), username=user,
                        password=password, keepalive=5, backoff=(0.2, 0.5))
    client.start()
    try:
        await asyncio.wait_for(client.connected.wait(), wait)
    except TimeoutError:
        pass
    return client


def test_passwd_hashes_carry_over_to_the_plugin(tmp_path: Path) -> None:
    """An old data dir's ``passwd`` (mosquitto_passwd's own lines) keeps working: the plugin
    takes the same PBKDF2-SHA512 hash, spelled as three fields."""
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "alice", "s3cret"], check=True)
    fields = provision.legacy_fields(passwd.read_text().strip().split(":", 1)[1])
    assert dynsec.check_password("s3cret", fields)
    assert not dynsec.check_password("other", fields)
    assert LINE.match("s1:" + provision.mosquitto_hash("pw"))


def written(hq: Path) -> dict[str, Any]:
    doc = dynsec.read(hq / "mosquitto" / dynsec.FILE)
    assert doc is not None
    return doc


async def test_real_broker_takes_the_written_files(tmp_path: Path) -> None:
    hq, port = tmp_path / "hq", free_port()
    url = f"mqtt://127.0.0.1:{port}"
    provision.init_cloud(hq, broker=url)
    s1 = provision.add_store(hq, "s1", "acme")
    cloud_password = load_settings(hq).broker_password
    mosq = hq / "mosquitto"
    for name in (dynsec.FILE, "mosquitto.conf"):
        assert stat.S_IMODE((mosq / name).stat().st_mode) == 0o640, name
    assert {c["username"]: c.get("clientid") for c in written(hq)["clients"]} == {
        "cloud": None, "cloud-admin": None, "s1": "edge-s1"}
    with mosquitto(hq):
        store = await connect(url, "s1", s1["password"])
        cloud = await connect(url, "cloud", cloud_password, client_id="cloud-hq-test")
        intruder = await connect(url, "s1", "wrong-password", wait=1.5)
        try:
            assert store.connected.is_set() and cloud.connected.is_set()
            assert not intruder.connected.is_set() and intruder.last_error
            # the ACL: own topics only (v5 PUBACK 0x87 = not authorized)
            assert await store.publish(topics.topic("acme", "s1", "up"), b"x") < 0x80
            assert await store.publish(topics.topic("acme", "s2", "up"), b"x") == 0x87
            assert await store.publish("$CONTROL/dynamic-security/v1", b"{}") == 0x87
            # a store added while the broker runs: told through the control topic, and the
            # broker saved it in the file it will start from next time
            assert (mosq / "mosquitto.pid").exists()
            s2 = await asyncio.to_thread(provision.add_store, hq, "s2", "acme")
            assert "s2" in dynsec.usernames(written(hq))
            late = await connect(url, "s2", s2["password"])
            try:
                assert late.connected.is_set(), late.last_error
                assert await late.subscribe([topics.topic("acme", "s2", "down")]) == [1]
                assert await late.subscribe([topics.topic("acme", "s1", "down")]) == [0x87]
            finally:
                await late.close()
        finally:
            for client in (store, cloud, intruder):
                await client.close()


async def test_a_store_added_while_the_broker_is_unreachable_is_not_added(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The running broker owns its state file: a change it never heard of would be lost at its
    next save, so ``store add`` fails and leaves nothing behind."""
    hq, port = tmp_path / "hq", free_port()
    provision.init_cloud(hq, broker=f"mqtt://127.0.0.1:{port}")
    monkeypatch.setattr(dynsec, "TIMEOUT_S", 1.5)
    with mosquitto(hq):
        before = (hq / "mosquitto" / dynsec.FILE).read_text()
        monkeypatch.setenv("STORENODE_CLOUD_BROKER_URL", f"mqtt://127.0.0.1:{free_port()}")
        with pytest.raises(dynsec.ControlError):
            await asyncio.to_thread(provision.add_store, hq, "s1", "acme")
        assert (hq / "mosquitto" / dynsec.FILE).read_text() == before
        assert provision.list_stores(hq) == []


async def test_an_old_data_dir_with_passwd_and_acl_is_migrated(tmp_path: Path) -> None:
    hq, port = tmp_path / "hq", free_port()
    url = f"mqtt://127.0.0.1:{port}"
    provision.init_cloud(hq, broker=url)
    mosq = hq / "mosquitto"
    # what an older storenode-cloud wrote: passwd + acl, and a conf that names them
    (mosq / dynsec.FILE).unlink()
    (mosq / "passwd").write_text(f"old:{provision.mosquitto_hash('old-pw')}\n")
    (mosq / "acl").write_text("pattern write storenode/v1/+/%u/up\n")
    conf = (mosq / "mosquitto.conf").read_text()
    plugin = re.search(r"^plugin .*\nplugin_opt_config_file .*$", conf, re.M)
    assert plugin is not None
    (mosq / "mosquitto.conf").write_text(conf.replace(
        plugin.group(0), f"password_file {mosq}/passwd\nacl_file {mosq}/acl"))
    provision.add_store(hq, "new", "acme")
    conf = (mosq / "mosquitto.conf").read_text()
    assert not re.search(r"^(acl_file|password_file) ", conf, re.M), conf
    assert sorted(p.name for p in mosq.glob("*.migrated")) == ["acl.migrated", "passwd.migrated"]
    with mosquitto(hq):
        old = await connect(url, "old", "old-pw")
        try:
            assert old.connected.is_set(), old.last_error
            assert await old.subscribe([topics.topic("acme", "old", "ack")]) == [1]
            assert await old.subscribe(["#"]) == [0x87]
        finally:
            await old.close()


def test_duplicate_reserved_and_invalid_ids_are_refused(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    provision.add_store(hq, "s1", "acme")  # works on a bare data dir too
    before = (hq / "mosquitto" / dynsec.FILE).read_text()
    with pytest.raises(StoreExists):
        provision.add_store(hq, "s1", "other")
    for store, tenant in (("cloud", "acme"), ("cloud-admin", "acme"), ("Bad Id", "acme"),
                          ("s3", "Bad"), ("s3\n", "a")):
        with pytest.raises(ValueError):
            provision.add_store(hq, store, tenant)
    assert (hq / "mosquitto" / dynsec.FILE).read_text() == before
    assert [s["store"] for s in provision.list_stores(hq)] == ["s1"]


def test_a_broker_user_not_in_the_db_is_still_a_duplicate(tmp_path: Path) -> None:
    hq = tmp_path / "hq"
    provision.add_store(hq, "s1", "acme")
    doc = written(hq)  # an id taken by hand
    dynsec.add_store(doc, "s9", dynsec.credentials("pw"))
    (hq / "mosquitto" / dynsec.FILE).write_text(dynsec.dumps(doc))
    with pytest.raises(StoreExists):
        provision.add_store(hq, "s9", "acme")
    assert [s["store"] for s in provision.list_stores(hq)] == ["s1"]


def test_stale_pid_file_is_not_a_running_broker(tmp_path: Path) -> None:
    mosq = tmp_path / "mosquitto"
    mosq.mkdir()
    assert provision.broker_running(mosq) is False  # no pid file
    (mosq / "mosquitto.pid").write_text(f"{os.getpid()}\n")  # a pid, but not a mosquitto
    assert provision.broker_running(mosq) is False
    (mosq / "mosquitto.pid").write_text("not a pid")
    assert provision.broker_running(mosq) is False


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    provision.write_atomic(target, "a\n", 0o640)
    provision.write_atomic(target, "b\n", 0o640)
    assert target.read_text() == "b\n" and [p.name for p in tmp_path.iterdir()] == ["passwd"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


async def test_many_stores_at_once_all_or_none_with_and_without_a_running_broker(
        tmp_path: Path) -> None:
    """A chain's roll-out: ``add_stores`` makes every store in one broker change (one state
    file write, or one batch of control commands), and refuses the whole list when one id
    is taken or twice in it."""
    hq, port = tmp_path / "hq", free_port()
    url = f"mqtt://127.0.0.1:{port}"
    provision.init_cloud(hq, broker=url)
    first = provision.add_stores(hq, [f"c{n:03d}" for n in range(200)], "acme")
    assert [c["store"] for c in first] == [f"c{n:03d}" for n in range(200)]
    assert len({c["password"] for c in first}) == 200
    before = (hq / "mosquitto" / dynsec.FILE).read_text()
    for bad in (["d1", "c007"], ["d1", "d1"], ["d1", "Bad Id"], ["d1", "cloud"]):
        with pytest.raises((StoreExists, ValueError)):
            provision.add_stores(hq, bad, "acme")
    assert (hq / "mosquitto" / dynsec.FILE).read_text() == before  # nothing of d1
    assert len(provision.list_stores(hq)) == 200
    with mosquitto(hq):
        more = await asyncio.to_thread(provision.add_stores, hq, ["d1", "d2", "d3"], "acme")
        assert {"d1", "d2", "d3"} <= dynsec.usernames(written(hq))  # the broker saved them
        clients = [await connect(url, c["store"], c["password"]) for c in (first[0], *more)]
        try:
            assert all(c.connected.is_set() for c in clients), [c.last_error for c in clients]
            assert await clients[-1].subscribe([topics.topic("acme", "d3", "down")]) == [1]
            assert await clients[-1].subscribe([topics.topic("acme", "d2", "down")]) == [0x87]
        finally:
            for client in clients:
                await client.close()
