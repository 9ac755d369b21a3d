"""A real Mosquitto per test, started from the shipped config on a free port, with the
dynamic-security state file the cloud would write for these users (``cloud`` is the cloud's
user, every other one a store bound to client id ``edge-<store>``)."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

from cloud.broker import dynsec
from tests.helpers import ROOT, free_port

CONFIG = ROOT / "config" / "mosquitto"


class Broker:
    def __init__(self, work: Path, users: dict[str, str]) -> None:
        self.dir, self.port = work, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        work.mkdir(parents=True, exist_ok=True)
        conf = render(self.port, work)
        # tests run as root in private temp dirs: keep the broker's user so it can read them
        (work / "mosquitto.conf").write_text(conf + "user root\n")
        (work / dynsec.FILE).write_text(dynsec.dumps(document(users)))

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.dir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("mosquitto did not start: " + (self.dir / "mosquitto.log").read_text())

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


def render(port: int, work: Path) -> str:
    return (CONFIG / "mosquitto.conf").read_text().format(
        port=port, data_dir=work, dynsec_plugin=dynsec.plugin_path())


def document(users: dict[str, str]) -> dict[str, object]:
    doc = dynsec.new_document("cloud", users.get("cloud", secrets.token_hex(8)),
                              secrets.token_hex(8))
    for user, password in users.items():
        if user != "cloud":
            dynsec.add_store(doc, user, dynsec.credentials(password))
    return doc
