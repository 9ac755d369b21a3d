"""mqtts:// for real: a Mosquitto TLS listener with a certificate from a test CA made here by
openssl; the client verifies the broker against ``ca_file`` and refuses one it cannot verify."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync import topics
from sync.mqtt import MqttClient
from tests.broker import Broker, render

USERS = {"s1": "pw-s1", "cloud": "pw-cloud"}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(work: Path) -> None:
    """ca.pem/ca.key and server.pem/server.key for 127.0.0.1 (SAN) signed by that CA."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=storenode test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=work)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "server.key", "-out", "server.csr", cwd=work)
    (work / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
             cwd=work)


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to make the test CA")  # Debian base: always there
    work = tmp_path / "broker"
    broker = Broker(work, USERS)
    make_ca_and_server_cert(work)
    conf = render(broker.port, work)
    conf = conf.replace(f"listener {broker.port} 127.0.0.1",
                        f"listener {broker.port} 127.0.0.1\n"
                        f"cafile {work / 'ca.pem'}\ncertfile {work / 'server.pem'}\n"
                        f"keyfile {work / 'server.key'}\ntls_version tlsv1.2")
    (work / "mosquitto.conf").write_text(conf + "user root\n")
    broker.start()
    yield broker
    broker.kill()


async def test_store_connects_over_tls_and_an_unknown_ca_is_refused(
        tls_broker: Broker, tmp_path: Path) -> None:
    url = f"mqtts://127.0.0.1:{tls_broker.port}"
    good = MqttClient(url, "edge-s1", username="s1", password=USERS["s1"],
                      ca_file=str(tmp_path / "broker" / "ca.pem"), backoff=(0.1, 0.3))
    bad = MqttClient(url, "edge-s1", username="s1", password=USERS["s1"],
                     backoff=(0.1, 0.3))  # the system's CAs do not know our test CA
    good.start()
    bad.start()
    try:
        await asyncio.wait_for(good.connected.wait(), 10)
        assert await good.publish(topics.topic("acme", "s1", "up"), b"over tls") < 0x80
        await asyncio.sleep(1)
        assert not bad.connected.is_set()
        assert bad.last_error and "certificate" in bad.last_error.lower()
    finally:
        await good.close()
        await bad.close()
