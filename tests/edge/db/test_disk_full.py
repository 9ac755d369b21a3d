"""Storage failures under a live daemon: disk full, a read-only file system, an immutable file.

The daemon must answer a clear JSON error (507 ``storage_full`` / 503), never a false 201,
keep serving reads and health, and accept orders again once the storage is back, with
nothing half-written. These tests mount file systems, so they need root (as in CI); a
refused mount fails the test rather than skipping it.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from edge.db.database import db_path
from tests.helpers import Daemon, login, make_store, request
from tests.invariants import check_database

pytestmark = pytest.mark.slow
ORDER = {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}, {"sku": "C002", "qty": 2}]}


def sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def must(*cmd: str) -> str:
    done = sh(*cmd)
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}): {done.stderr.strip()} "
                    "-- these tests need root and mount(8) (they run as root in CI)")
    return done.stdout.strip()


def unmount(mnt: Path) -> None:
    if sh("mountpoint", "-q", str(mnt)).returncode == 0:
        must("umount", str(mnt))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    must("mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt))
    try:
        yield mnt
    finally:
        unmount(mnt)


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Path]:
    """A loop-mounted ext4 that turns read-only on its first error, like a failing SD card."""
    image, mnt = tmp_path / "disk.img", tmp_path / "ext4"
    mnt.mkdir()
    must("truncate", "-s", "32M", str(image))
    must("mkfs.ext4", "-q", "-F", str(image))
    must("mount", "-o", "loop,errors=remount-ro", str(image), str(mnt))
    try:
        yield mnt
    finally:
        unmount(mnt)


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator[Any]:
    """Daemons whose log lives outside the file system under test; all stopped at teardown."""
    started: list[Daemon] = []

    def start(store: Path) -> Daemon:
        daemon = Daemon(store)
        daemon.log = tmp_path / "daemon.log"
        started.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


class Till:
    """A cashier that remembers the body sent under every key and the orders answered 201."""

    def __init__(self, url: str) -> None:
        self.url, self.token = url, login(url, "cashier")
        self.sent: dict[str, dict[str, Any]] = {}
        self.acked: dict[str, dict[str, Any]] = {}

    def order(self, key: str | None = None) -> tuple[int, Any]:
        key = key or f"test-{uuid.uuid4().hex}"
        self.sent[key] = ORDER
        status, body = request("POST", f"{self.url}/api/v1/orders", ORDER, self.token,
                               {"Idempotency-Key": key})
        if status in (200, 201):
            self.acked[key] = body
        return status, body

    def retry_all(self) -> None:
        """Every key ever sent resolves to exactly one order (200 if it was saved, else 201)."""
        for key in list(self.sent):
            status, body = self.order(key)
            assert status in (200, 201), (key, status, body)

    def reads_still_work(self) -> None:
        for path in ("/api/v1/orders", "/api/v1/inventory", "/api/v1/catalog/items"):
            status, body = request("GET", self.url + path, token=self.token)
            assert status == 200 and isinstance(body, list), (path, status, body)
        for order in self.acked.values():
            status, body = request("GET", f"{self.url}/api/v1/orders/{order['id']}",
                                   token=self.token)
            assert (status, body) == (200, order)
        status, health = request("GET", f"{self.url}/api/v1/health")
        assert status == 200 and health["status"] in ("ok", "degraded"), health
        assert login(self.url, "manager")


def assert_error(status: int, body: Any, statuses: tuple[int, ...], codes: tuple[str, ...]) -> None:
    assert status in statuses, f"expected {statuses}, got {status} {body}"
    assert isinstance(body, dict) and body.get("error") in codes, body


def check_all_saved(store: Path, till: Till) -> None:
    state = check_database(db_path(store))
    assert state["keys"] == {k: o["id"] for k, o in till.acked.items()}
    assert state["orders"] == len(till.sent)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free space)."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, chunk[:size])
            except OSError as exc:
                assert exc.errno == 28, exc  # ENOSPC
    finally:
        os.close(fd)
    return filler


def test_disk_full_answers_507_then_recovers(tmpfs: Path, daemon_factory: Any) -> None:
    store = make_store(tmpfs / "store")
    daemon = daemon_factory(store)
    till = Till(daemon.url)
    assert till.order()[0] == 201
    filler = fill(tmpfs)
    for _ in range(2000):  # the WAL may hold free pages: orders fit until it must grow
        status, body = till.order()
        if status != 201:
            break
    assert_error(status, body, (507,), ("storage_full",))
    for _ in range(5):
        status, body = till.order()
        assert_error(status, body, (507,), ("storage_full",))
    with ThreadPoolExecutor(8) as pool:  # a whole group-commit batch fails together
        for status, body in pool.map(lambda _: till.order(), range(16)):
            assert_error(status, body, (507,), ("storage_full",))
    till.reads_still_work()

    filler.unlink()
    status, body = till.order()
    assert status == 201, body
    till.retry_all()
    till.reads_still_work()
    status, health = request("GET", f"{daemon.url}/api/v1/health")
    assert health["status"] == "ok", health
    daemon.kill()  # SIGKILL: what was answered 201 must be on disk, not only in memory
    check_all_saved(store, till)


def test_read_only_file_system_answers_503(ext4: Path, daemon_factory: Any) -> None:
    store = make_store(ext4 / "store")
    os.sync()  # a store set up long before the fault (init does not fsync edge.toml)
    daemon = daemon_factory(store)
    till = Till(daemon.url)
    for _ in range(3):
        assert till.order()[0] == 201
    device = must("findmnt", "-n", "-o", "SOURCE", str(ext4))
    Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("1")
    options = set(must("findmnt", "-n", "-o", "OPTIONS", str(ext4)).split(","))
    assert options & {"ro", "emergency_ro"}, f"file system still writable: {options}"
    for _ in range(3):
        status, body = till.order()
        assert_error(status, body, (503,), ("storage_unavailable", "storage_read_only"))
    till.reads_still_work()
    daemon.kill()

    # the technician's fix: fsck and remount; then everything answered 201 is there
    image = ext4.parent / "disk.img"
    unmount(ext4)
    assert sh("e2fsck", "-fy", str(image)).returncode in (0, 1), "fsck could not repair"
    must("mount", "-o", "loop,errors=remount-ro", str(image), str(ext4))
    daemon = daemon_factory(store)
    till.url = daemon.url
    till.retry_all()
    till.reads_still_work()
    daemon.stop()
    check_all_saved(store, till)


def test_immutable_database_file_answers_503_then_recovers(tmp_path: Path,
                                                           daemon_factory: Any) -> None:
    store = make_store(tmp_path / "store")
    daemon = daemon_factory(store)
    till = Till(daemon.url)
    assert till.order()[0] == 201
    files = [str(db_path(store)), f"{db_path(store)}-wal"]
    must("chattr", "+i", *files)  # even root cannot write it now
    try:
        for _ in range(3):
            status, body = till.order()
            assert_error(status, body, (503,), ("storage_unavailable", "storage_read_only"))
        till.reads_still_work()
    finally:
        must("chattr", "-i", *files)
    status, body = till.order()
    assert status == 201, body
    till.retry_all()
    daemon.stop()
    check_all_saved(store, till)
