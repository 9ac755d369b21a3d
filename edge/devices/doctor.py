"""``storenode doctor``: one row per check — printers, locker boards, BLE adapters, broker,
disk space, clock. A row is ``{"check", "status": ok|warn|fail|skip, "detail"}``; any
``fail`` makes the command exit non-zero.

Devices the running daemon owns (a serial port takes one user) are read from its health;
with no daemon running they are probed directly."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from drivers.ble import ProbeError, make_scanner
from drivers.locker import LockerError, make_board
from sync.mqtt import BrokerUrl

from edge.backups.rpo import WARN_BACKUP_S, WARN_PENDING_S, age_s, last_backup, pending_age
from edge.config import Settings
from edge.devices.technician import daemon_call

Row = dict[str, Any]
DISK_FAIL_BYTES = 512 << 20  # below this the database may soon answer 507
DISK_WARN_BYTES = 2 << 30
EARLIEST_SANE = 1_735_689_600  # 2025-01-01: a clock before this was never set


def row(check: str, status: str, detail: str) -> Row:
    return {"check": check, "status": status, "detail": detail}


def run_checks(settings: Settings, which: Callable[[str], str | None] = shutil.which) -> list[Row]:
    answer = daemon_call(settings, "GET", "/api/v1/health", timeout=2)
    health = answer[1] if answer is not None and answer[0] == 200 else None
    rows = printer_rows(settings, health)
    rows += locker_rows(settings, health)
    rows += probe_rows(settings, health)
    rows += [broker_row(settings), disk_row(settings.data_dir), clock_row(which)]
    rows += rpo_rows(settings, health)
    return rows


def rpo_rows(settings: Settings, health: dict[str, Any] | None) -> list[Row]:
    """What a dead box would take with it: events HQ has not acknowledged, and how old the
    last local backup is (from the daemon's health, else from the files)."""
    if health is not None and "backup" in health:
        pending_s, backup = health["sync"].get("oldest_pending_s") or 0.0, health["backup"]
    else:
        pending_s, backup = pending_age(settings.db_path), last_backup(settings.data_dir)
        backup = backup and {"last_at": backup["at"], "age_s": age_s(backup["at"])}
    rows = [row("unsynced events", "warn" if pending_s > WARN_PENDING_S else "ok",
                f"oldest not acknowledged by HQ: {pending_s:.0f} s"
                + (f" (over {WARN_PENDING_S:.0f} s: check the broker link)"
                   if pending_s > WARN_PENDING_S else ""))]
    if backup is None:
        rows.append(row("local backup", "warn", "none yet: storenode db backup FILE"))
    else:
        old = backup["age_s"] > WARN_BACKUP_S
        rows.append(row("local backup", "warn" if old else "ok",
                        f"last {backup['last_at']} ({backup['age_s'] / 3600:.1f} h ago)"))
    return rows


def printer_rows(settings: Settings, health: dict[str, Any] | None) -> list[Row]:
    printers = getattr(getattr(settings, "printing", None), "printers", None)
    if not printers:
        return [row("printers", "skip", "no [printers.<name>] in edge.toml")]
    if health is not None and "printers" in health:
        return [row(f"printer {name}", "ok" if p.get("printable", p.get("state") == "ok")
                    else "fail", f"daemon: {p.get('state')} {p.get('detail') or ''}".strip())
                for name, p in health["printers"].items()]
    try:
        from drivers.printer import PrinterError, open_printer
    except ImportError as exc:
        return [row("printers", "skip", f"printer checks unavailable: {exc}")]
    rows = []
    for name, config in printers.items():
        try:
            status = open_printer(config).status()
        except PrinterError as exc:
            rows.append(row(f"printer {name}", "fail", str(exc)))
            continue
        state = getattr(status, "state", None)
        rows.append(row(f"printer {name}", "ok" if state in (None, "ok") else "fail",
                        f"status {state}" if state else "reachable (no status from this backend)"))
    return rows


def locker_rows(settings: Settings, health: dict[str, Any] | None) -> list[Row]:
    if not settings.lockers:
        return [row("lockers", "skip", "no [lockers.<bank>] in edge.toml")]
    rows = []
    for bank in settings.lockers:
        device = (health or {}).get("devices", {}).get(f"locker:{bank.name}")
        if device is not None:
            ok = device["state"] in ("ok", "starting")
            rows.append(row(f"locker {bank.name}", "ok" if ok else "fail",
                            f"daemon: {device['state']} {device.get('detail') or ''}".strip()))
            continue
        try:
            door = asyncio.run(_read_door(bank.options))
        except LockerError as exc:
            rows.append(row(f"locker {bank.name}", "fail", f"{exc.state}: {exc}"))
        else:
            rows.append(row(f"locker {bank.name}", "ok",
                            f"{bank.options['type']} board answers (door 1 {door})"))
    return rows


async def _read_door(options: dict[str, Any]) -> str:
    board = make_board(options)
    try:
        return await board.door(1)
    finally:
        await board.close()


def probe_rows(settings: Settings, health: dict[str, Any] | None) -> list[Row]:
    if settings.probes is None:
        return [row("ble", "skip", "no [probes.<zone>] in edge.toml")]
    rows = []
    for zone in settings.probes.zones:
        device = (health or {}).get("devices", {}).get(f"probe:{zone.zone}")
        if device is not None:
            rows.append(row(f"ble {zone.zone}", "ok" if device["state"] == "ok" else "fail",
                            f"daemon: {device['state']} {device.get('detail') or ''}".strip()))
            continue
        try:
            asyncio.run(_start_stop(zone.options))
        except ProbeError as exc:
            rows.append(row(f"ble {zone.zone}", "fail", str(exc)))
        else:
            rows.append(row(f"ble {zone.zone}", "ok", f"{zone.options['type']} probe starts"))
    return rows


async def _start_stop(options: dict[str, Any]) -> None:
    scanner = make_scanner(options)
    await scanner.start(lambda advert: None)
    await scanner.stop()


def broker_row(settings: Settings) -> Row:
    if not settings.broker:
        return row("broker", "skip", "no sync.broker: offline, events queue in the outbox")
    url = BrokerUrl.parse(settings.broker)
    try:
        with socket.create_connection((url.host, url.port), timeout=3):
            pass
    except OSError as exc:
        return row("broker", "fail", f"{url.host}:{url.port} unreachable: {exc}")
    return row("broker", "ok", f"{url.host}:{url.port} accepts connections")


def disk_row(data_dir: Path) -> Row:
    usage = shutil.disk_usage(data_dir)
    detail = f"{usage.free >> 20} MiB free of {usage.total >> 20} MiB at {data_dir}"
    if usage.free < DISK_FAIL_BYTES:
        return row("disk", "fail", detail)
    return row("disk", "warn" if usage.free < DISK_WARN_BYTES else "ok", detail)


def clock_row(which: Callable[[str], str | None] = shutil.which) -> Row:
    now = time.time()
    if now < EARLIEST_SANE:
        return row("clock", "fail", f"system clock reads {time.ctime(now)}: never set")
    if which("timedatectl") is None:
        return row("clock", "warn", f"{time.ctime(now)}; timedatectl missing, NTP sync unknown")
    try:
        done = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return row("clock", "warn", f"timedatectl failed: {exc}")
    synced = done.stdout.strip()
    if done.returncode != 0 or synced not in ("yes", "no"):
        why = " ".join((done.stderr or done.stdout).split())
        return row("clock", "warn", f"NTP sync unknown: {why}")
    return row("clock", "ok" if synced == "yes" else "warn",
               f"{time.ctime(now)}; NTP synchronized: {synced}")
