"""The test stack's ``Daemon`` helper: a port picked for it and taken by another process
before the daemon binds it (a race the fresh-clone suite hit once: `address already in use`)
makes its first start pick another; a port given stays, and the error shows."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from devtools.helpers import Daemon, make_store, request


def _hold(port: int) -> socket.socket:
    taker = socket.socket()
    taker.bind(("127.0.0.1", port))
    taker.listen()
    return taker


def test_a_picked_port_taken_before_the_start_is_replaced(tmp_path: Path) -> None:
    daemon = Daemon(make_store(tmp_path / "store", demo=False))
    taken = daemon.port
    with _hold(taken):
        try:
            daemon.start()
            assert daemon.port != taken
            assert request("GET", f"{daemon.url}/api/v1/health")[0] == 200
        finally:
            daemon.stop()


def test_a_given_port_is_kept_and_the_failure_shows(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store", demo=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = Daemon(store, port=port)
    with _hold(port), pytest.raises(RuntimeError, match="address already in use"):
        daemon.start()
    assert daemon.port == port
