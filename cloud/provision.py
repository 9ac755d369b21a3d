"""The broker's files under ``<data_dir>/mosquitto/``: ``passwd``, ``acl`` and ``mosquitto.conf``.

``passwd`` is written by us in Mosquitto 2's own format,
``user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>`` (what ``mosquitto_passwd``
writes; proven against a real broker in ``tests/cloud_api/test_provision.py``). ``acl`` is the
shipped ``config/mosquitto/acl``: its ``pattern`` lines use the username (``%u``), and a store's
username **is** its store id, so store ids are unique across the whole cloud. ``mosquitto.conf``
is rendered from the shipped template so an operator can run
``mosquitto -c <data_dir>/mosquitto/mosquitto.conf``.

Every write is atomic (temporary file, fsync, rename, fsync of the directory). When the broker's
pid file exists, the broker gets SIGHUP and reloads the password and ACL files.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import os
import re
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.mqtt import BrokerUrl

from .api.auth import hash_password
from .api.schemas import ROLES, USER_ID
from .config import (CONFIG_FILE, ID, Settings, ensure_data_dir, fsync_dir, load_settings,
                     render_config)
from .db import CloudDb
from .errors import StoreExists

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "mosquitto"
ITERATIONS = 1000  # PBKDF2 rounds; mosquitto_passwd 2.0 writes 101, the broker reads any
SALT_BYTES = 12    # as mosquitto_passwd
PASSWD, ACL, CONF, PID = "passwd", "acl", "mosquitto.conf", "mosquitto.pid"
FILE_MODE = 0o640  # the broker may run as another user of the data dir's group


class BrokerUserExists(Exception):
    pass


def mosquitto_hash(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """A Mosquitto 2 ``$7$`` password hash (PBKDF2-HMAC-SHA512, 64-byte key)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_hash(password: str, stored: str) -> bool:
    try:
        _, seven, iterations, salt, digest = stored.split("$")
        expected = mosquitto_hash(password, int(iterations), base64.b64decode(salt))
    except ValueError:
        return False
    return seven == "7" and secrets.compare_digest(expected.rsplit("$", 1)[1], digest)


def read_users(mosquitto_dir: Path) -> dict[str, str]:
    """``{username: hash}`` of the password file (empty when there is none)."""
    try:
        text = (mosquitto_dir / PASSWD).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    users = {}
    for line in text.splitlines():
        user, sep, stored = line.partition(":")
        if sep and user:
            users[user] = stored
    return users


def add_user(mosquitto_dir: Path, user: str, password: str) -> None:
    """Add a broker user; refuses one that exists (a store id is taken once, cloud-wide)."""
    users = read_users(mosquitto_dir)
    if user in users:
        raise BrokerUserExists(f"broker user {user!r} already exists in {mosquitto_dir / PASSWD}")
    users[user] = mosquitto_hash(password)
    _write_users(mosquitto_dir, users)


def remove_user(mosquitto_dir: Path, user: str) -> None:
    users = read_users(mosquitto_dir)
    if users.pop(user, None) is not None:
        _write_users(mosquitto_dir, users)


def _write_users(mosquitto_dir: Path, users: dict[str, str]) -> None:
    text = "".join(f"{user}:{stored}\n" for user, stored in sorted(users.items()))
    write_atomic(mosquitto_dir / PASSWD, text, FILE_MODE)


def render_conf(mosquitto_dir: Path, port: int) -> str:
    """The shipped mosquitto.conf for this data dir, plus a pid file (for SIGHUP reloads) and
    ``user`` = whoever provisions (a broker started as root drops to the files' owner)."""
    template = (SHIPPED / CONF).read_text(encoding="utf-8")
    conf = template.format(port=port, data_dir=mosquitto_dir)
    return (conf.rstrip("\n") + "\n\n# added by storenode-cloud provisioning\n"
            f"pid_file {mosquitto_dir / PID}\nuser {getpass.getuser()}\n")


def write_broker_files(mosquitto_dir: Path, port: int) -> None:
    """(Re)write ``acl`` from the shipped one; write ``mosquitto.conf`` unless it exists (an
    operator may have edited it); make sure ``passwd`` exists."""
    mosquitto_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomic(mosquitto_dir / ACL, (SHIPPED / ACL).read_text(encoding="utf-8"), FILE_MODE)
    if not (mosquitto_dir / CONF).exists():
        write_atomic(mosquitto_dir / CONF, render_conf(mosquitto_dir, port), FILE_MODE)
    if not (mosquitto_dir / PASSWD).exists():
        write_atomic(mosquitto_dir / PASSWD, "", FILE_MODE)


def reload_broker(mosquitto_dir: Path) -> bool:
    """SIGHUP the broker named by the pid file; False when it is not running."""
    try:
        pid = int((mosquitto_dir / PID).read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return False
    if comm != "mosquitto":  # a stale pid file: the number now belongs to someone else
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def write_atomic(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


# -- provisioning: the Python API behind `storenode-cloud init / store add / user add` -------
def broker_port(settings: Settings) -> int:
    return BrokerUrl.parse(settings.broker).port if settings.broker else 1883


def prepare_broker(settings: Settings) -> None:
    """The broker files, with the cloud's own user (password from the data dir)."""
    write_broker_files(settings.mosquitto_dir, broker_port(settings))
    with _locked(settings.mosquitto_dir):
        if settings.broker_username not in read_users(settings.mosquitto_dir):
            add_user(settings.mosquitto_dir, settings.broker_username, settings.broker_password)


def init_cloud(data_dir: Path, database: str = "", broker: str = "",
               port: int = 8090) -> dict[str, Any]:
    """Write ``cloud.toml`` (never over an existing one), the secrets, the broker files, and
    create the database."""
    path = data_dir / CONFIG_FILE
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite")
    ensure_data_dir(data_dir)
    settings = load_settings(data_dir, overrides={"db.url": database, "broker.url": broker,
                                                  "http.port": port})
    CloudDb.open(settings.database).close()  # fails early on a bad URL; runs migrations
    write_atomic(path, render_config(database, broker, port), FILE_MODE)
    prepare_broker(settings)
    return {"config": str(path), "database": settings.database,
            "broker_conf": str(settings.mosquitto_dir / CONF)}


def add_store(data_dir: Path, store: str, tenant: str = "default") -> dict[str, Any]:
    """Provision a store: its row in the database and its broker user (username = store id),
    with a new random password; the broker reloads its files when it runs."""
    for what, value in (("store id", store), ("tenant", tenant)):
        if not ID.match(value):
            raise ValueError(f"{what} must match {ID.pattern}")
    ensure_data_dir(data_dir)
    settings = load_settings(data_dir)
    if store == settings.broker_username:
        raise ValueError(f"{store!r} is the cloud's own broker user")
    prepare_broker(settings)
    password = secrets.token_urlsafe(24)
    db = CloudDb.open(settings.database)
    try:
        with _locked(settings.mosquitto_dir):
            if db.get_store(store) is not None or store in read_users(settings.mosquitto_dir):
                raise StoreExists(f"store {store!r} already exists (store ids are unique "
                                  "across the cloud: the broker username is the store id)")
            add_user(settings.mosquitto_dir, store, password)
            try:
                db.add_store(store, tenant)
            except BaseException:
                remove_user(settings.mosquitto_dir, store)
                raise
    finally:
        db.close()
    reload_broker(settings.mosquitto_dir)
    return {"store": store, "tenant": tenant, "username": store, "password": password}


def add_hq_user(data_dir: Path, user: str, password: str, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not re.match(USER_ID["pattern"], user):
        raise ValueError(f"user id must match {USER_ID['pattern']}")
    hashed = hash_password(password)
    ensure_data_dir(data_dir)
    db = CloudDb.open(load_settings(data_dir).database)
    try:
        db.add_user(user, hashed, role)
    finally:
        db.close()


def list_stores(data_dir: Path) -> list[dict[str, Any]]:
    db = CloudDb.open(load_settings(data_dir).database)
    try:
        return db.list_stores()
    finally:
        db.close()


@contextmanager
def _locked(mosquitto_dir: Path) -> Iterator[None]:
    """Serialise read-modify-write of ``passwd`` between concurrent commands."""
    mosquitto_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    with open(mosquitto_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
