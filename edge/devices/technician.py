"""What ``storenode locker open`` and ``storenode probe scan`` do (the CLI is a thin shell).

The running daemon owns the lock board's port, so ``locker open`` asks it over the LAN API
(with a short-lived technician token signed by the store's secret); with no daemon it drives
the board itself and records the opening in the database."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from common.http.auth import TokenSigner
from drivers.ble import Advert, BleakProbe, ProbeError, Scanner, capture_line, make_scanner
from drivers.locker import LockerError, make_board

from edge.config import Settings, load_settings
from edge.lockers import sql as locker_store
from edge.db.connection import open_writer
from edge.db.group_commit import run_once


class TechnicianError(Exception):
    """A clear, one-line reason the command failed (printed as ``error: …``)."""


def daemon_call(settings: Settings, method: str, path: str, body: Any = None,
                timeout: float = 5) -> tuple[int, Any] | None:
    """Call the local daemon as a technician; ``None`` when no daemon answers."""
    token = TokenSigner(settings.secret, 60).issue("cli", "technician")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{settings.port}{path}", data=data,
                                 method=method, headers={"Authorization": f"Bearer {token}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (local daemon)
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
    except OSError:
        return None


def locker_open(data_dir: Path, bank: str, n: int, release: bool) -> dict[str, Any]:
    settings = load_settings(data_dir)
    banks = {b.name: b for b in settings.lockers}
    if bank not in banks:
        raise TechnicianError(f"no locker bank {bank!r} in edge.toml (banks: {sorted(banks)})")
    if not 1 <= n <= banks[bank].compartments:
        raise TechnicianError(f"bank {bank} has compartments 1..{banks[bank].compartments}")
    answer = daemon_call(settings, "POST", f"/api/v1/lockers/{bank}/compartments/{n}/open",
                         {"release": release})
    if answer is not None:
        status, body = answer
        if status != 200:
            raise TechnicianError(f"daemon answered {status}: {body}")
        return {**body, "via": "daemon"}
    asyncio.run(_open_directly(banks[bank].options, n))
    conn = open_writer(settings.db_path)
    try:
        opened = run_once(conn, settings.store_id, locker_store.opened, bank, n, "staff", release)
    finally:
        conn.close()
    return {**opened, "via": "board"}


async def _open_directly(options: dict[str, Any], n: int) -> None:
    board = make_board(options)
    try:
        await board.open(n)
    except LockerError as exc:
        raise TechnicianError(f"locker board {exc.state}: {exc}") from exc
    finally:
        await board.close()


def probe_scan(data_dir: Path, seconds: float, adapter: str | None,
               record: TextIO | None) -> dict[str, Any]:
    """Listen ``seconds`` on each configured zone (or on ``adapter``) and count what was
    heard; ``record`` gets a capture (JSON lines, addresses salted-hashed) for replay."""
    settings = load_settings(data_dir)
    if adapter is not None or settings.probes is None:
        scanners: dict[str, tuple[Scanner, int]] = {
            "scan": (BleakProbe(adapter or "hci0"), -75)}
    else:
        scanners = {z.zone: (make_scanner(z.options), z.rssi_threshold)
                    for z in settings.probes.zones}
    return asyncio.run(_scan(scanners, seconds, record))


async def _scan(scanners: dict[str, tuple[Scanner, int]], seconds: float,
                record: TextIO | None) -> dict[str, Any]:
    started, salt = time.time(), secrets.token_bytes(16)
    heard: dict[str, list[Advert]] = {zone: [] for zone in scanners}
    running: list[Scanner] = []
    try:
        for zone, (scanner, _) in scanners.items():
            try:
                await scanner.start(heard[zone].append)
            except ProbeError as exc:
                raise TechnicianError(f"zone {zone}: {exc}") from exc
            running.append(scanner)
        await asyncio.sleep(seconds)
    finally:
        for scanner in running:
            await scanner.stop()
    result: dict[str, Any] = {"seconds": seconds, "zones": {}}
    for zone, adverts in heard.items():
        threshold = scanners[zone][1]
        near = {a.address for a in adverts if a.rssi >= threshold}
        result["zones"][zone] = {"adverts": len(adverts), "devices": len({a.address for a in adverts}),
                                 "near_devices": len(near), "rssi_threshold": threshold}
        if record is not None:
            for advert in adverts:
                name, companies, uuids = _fields(advert)
                record.write(capture_line(advert, started, salt, name, companies, uuids) + "\n")
    return result


def _fields(advert: Advert) -> tuple[str | None, list[int], list[str]]:
    """The fields ``signature`` joined, back apart (for a capture line)."""
    name, companies, uuids = advert.signature.decode("utf-8", "replace").rsplit("|", 2)
    return (name or None, [int(c) for c in companies.split(",") if c],
            [u for u in uuids.split(",") if u])
