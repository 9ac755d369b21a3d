"""A real Mosquitto per test, started from the shipped config on a free port."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers import ROOT, free_port

CONFIG = ROOT / "config" / "mosquitto"


class Broker:
    def __init__(self, work: Path, users: dict[str, str]) -> None:
        self.dir, self.port = work, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        work.mkdir(parents=True, exist_ok=True)
        conf = (CONFIG / "mosquitto.conf").read_text().format(port=self.port, data_dir=work)
        # tests run as root in private temp dirs: keep the broker's user so it can read them
        (work / "mosquitto.conf").write_text(conf + "user root\n")
        shutil.copy(CONFIG / "acl", work / "acl")
        passwd = work / "passwd"
        passwd.touch()
        for user, password in users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                           capture_output=True)

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
