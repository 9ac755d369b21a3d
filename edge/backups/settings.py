"""``[backup]`` in edge.toml: encrypted local backups to a second medium (validated in
edge/config.py's SCHEMA)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackupSettings:
    dir: str = ""  # where the copies go, e.g. a USB stick; "" = no timed backups
    recipient: str = ""  # the technician's age public key (storenode backup keygen)
    keep: int = 7  # copies kept in dir (the oldest beyond are deleted)
    every_min: int = 60  # the daemon makes one this often
