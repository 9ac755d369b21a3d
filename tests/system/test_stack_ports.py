"""The test stack's HQ takes another port when the one it was given is taken before it binds
(CI met it: ``free_port`` found a port free, an outgoing connection had it when HQ started)."""

from __future__ import annotations

import socket
from pathlib import Path

from devtools.helpers import request
from devtools.stack import Hq


def test_a_first_start_on_a_taken_port_takes_another(tmp_path: Path) -> None:
    hq = Hq(tmp_path, [])
    taken = hq.port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()
        try:
            hq.start()
            assert hq.port != taken
            assert request("GET", f"{hq.url}/api/v1/health")[0] == 200
            assert "address already in use" in (tmp_path / "hq" / "hq.log").read_text()
        finally:
            hq.kill()
