"""Encrypted local backups: an online copy of the database (SQLite's backup API), encrypted
to the technician's age public key (pyrage: the age format, X25519, streaming), written to a
second medium, the last ``keep`` kept. The box holds only the public key: a lost USB stick
(or this box) cannot decrypt a copy; the technician's identity file can (``storenode backup
decrypt``, or the ``age`` tool)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Final

import pyrage
from pyrage import x25519

from common.clock import utc_now

from edge.backups import commands
from edge.backups.settings import BackupSettings
from edge.db.database import backup

SUFFIX: Final = ".db.age"
NAME: Final = re.compile(r"^(?P<store>[a-z0-9][a-z0-9_-]*)-\d{8}T\d{12}Z\.db\.age$")


class BackupError(Exception):
    """A backup or decryption that cannot be made, with what to do."""


def recipient(text: str) -> x25519.Recipient:
    try:
        return x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise BackupError(f"backup.recipient {text[:20]!r}… is not an age public key "
                          f"(age1…): {exc}") from exc


def keygen(out: Path) -> dict[str, str]:
    """A new technician key: the identity (secret) to ``out`` (0600, never overwritten), the
    public key to put in ``backup.recipient``."""
    identity = x25519.Identity.generate()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"# storenode backup key, public key: {identity.to_public()}\n{identity}\n")
    return {"identity_file": str(out), "recipient": str(identity.to_public())}


def make_backup(db_path: Path, store_id: str, settings: BackupSettings) -> dict[str, Any]:
    """One encrypted copy into ``settings.dir``; prunes to ``keep``; records it (health,
    doctor) and tells HQ (``backup.done``). Blocking: run it on a thread."""
    if not settings.dir:
        raise BackupError("no backup.dir in edge.toml")
    to = recipient(settings.recipient)
    target_dir = Path(settings.dir)
    if not target_dir.is_dir():
        raise BackupError(f"backup.dir {target_dir} is not a directory (is the stick in?)")
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%fZ")  # names sort by time
    target = target_dir / f"{store_id}-{stamp}{SUFFIX}"
    plain = db_path.parent / f".backup-{stamp}.db"  # on the box's own disk, never the stick
    partial = target.with_name(target.name + ".partial")
    try:
        backup(db_path, plain)
        pyrage.encrypt_file(str(plain), str(partial), [to])
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
    except (OSError, pyrage.EncryptError) as exc:
        raise BackupError(f"backup to {target_dir} failed: {exc}") from exc
    finally:
        plain.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    removed = prune(target_dir, store_id, settings.keep)
    size = target.stat().st_size
    done = commands.record(db_path, store_id, target, size)
    return {"backup": str(target), "bytes": size, "at": done["at"], "removed": removed}


def prune(target_dir: Path, store_id: str, keep: int) -> list[str]:
    """Delete this store's oldest copies beyond ``keep`` (names sort by time)."""
    mine = sorted(p for p in target_dir.iterdir()
                  if (m := NAME.match(p.name)) and m["store"] == store_id)
    old = mine[:-keep] if keep else mine
    for path in old:
        path.unlink(missing_ok=True)
    return [p.name for p in old]


def decrypt(source: Path, identity_file: Path, out: Path) -> dict[str, Any]:
    """The database inside an encrypted copy, with the technician's identity."""
    if out.exists():
        raise BackupError(f"{out} exists; refusing to overwrite")
    try:
        lines = [ln.strip() for ln in identity_file.read_text(encoding="utf-8").splitlines()]
        identity = x25519.Identity.from_str(next(ln for ln in lines if ln.startswith("AGE-")))
    except (OSError, StopIteration, pyrage.IdentityError) as exc:
        raise BackupError(f"{identity_file}: not an age identity file ({exc})") from exc
    try:
        pyrage.decrypt_file(str(source), str(out), [identity])
    except (OSError, pyrage.DecryptError) as exc:
        out.unlink(missing_ok=True)
        raise BackupError(f"cannot decrypt {source}: {exc}") from exc
    return {"database": str(out), "bytes": out.stat().st_size}
