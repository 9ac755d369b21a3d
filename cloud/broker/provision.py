"""The broker's files under ``<data_dir>/mosquitto/``: ``dynamic-security.json`` and
``mosquitto.conf``.

Access control is Mosquitto's dynamic-security plugin (``cloud/broker/dynsec.py`` says why and what
each role may do): a store's username **is** its store id (so store ids are unique across the
whole cloud), it may only connect with client id ``edge-<store>``, and it may publish and
subscribe only on its own topics; a refused SUBSCRIBE is answered with reason code 0x87.
``mosquitto.conf`` is rendered from the shipped template so an operator can run
``mosquitto -c <data_dir>/mosquitto/mosquitto.conf``.

The broker reads ``dynamic-security.json`` when it starts and owns it while it runs. So: with no
broker running, provisioning writes the file (atomically: temporary file, fsync, rename, fsync of
the directory); with the broker running (its pid file names a live mosquitto), provisioning sends
the same change to the broker's control topic as the ``cloud-admin`` user and the broker saves
the file itself. Either way the file is what the broker runs. A data dir provisioned by an older
version (``passwd`` + ``acl``) is migrated: the ``$7$`` hashes carry over unchanged.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloud.api.auth import hash_password
from cloud.api.schemas import ROLES, USER_ID
from cloud.broker import dynsec
from cloud.config import (
    CONFIG_FILE,
    Settings,
    ensure_data_dir,
    load_settings,
    render_config,
)
from cloud.database import CloudDb
from cloud.errors import StoreExists, UnknownStore
from cloud.files import fsync_dir
from cloud.stores.boxes import box_username
from cloud.names import ID
from sync.mqtt import BrokerUrl

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "mosquitto"
CONF, PID = "mosquitto.conf", "mosquitto.pid"
LEGACY_PASSWD, LEGACY_ACL = "passwd", "acl"  # before the dynamic-security plugin
FILE_MODE = 0o640  # the broker may run as another user of the data dir's group
RESERVED = {dynsec.ADMIN_USER}


def mosquitto_hash(password: str, iterations: int = dynsec.ITERATIONS,
                   salt: bytes | None = None) -> str:
    """A Mosquitto 2 ``passwd`` line's hash, ``$7$<iterations>$<salt>$<PBKDF2-SHA512>``."""
    fields = dynsec.credentials(password, iterations, salt)
    return f"$7${fields['iterations']}${fields['salt']}${fields['password']}"


def legacy_fields(stored: str) -> dict[str, Any]:
    """A ``passwd`` hash as the plugin's password fields (the same PBKDF2, other spelling)."""
    _, seven, iterations, salt, digest = stored.split("$")
    if seven != "7":
        raise ValueError("not a Mosquitto $7$ hash")
    base64.b64decode(salt, validate=True)
    return {"password": digest, "salt": salt, "iterations": int(iterations)}


def read_legacy_users(mosquitto_dir: Path) -> dict[str, str]:
    """``{username: hash}`` of an old ``passwd`` file (empty when there is none)."""
    try:
        text = (mosquitto_dir / LEGACY_PASSWD).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    users = {}
    for line in text.splitlines():
        user, sep, stored = line.partition(":")
        if sep and user:
            users[user] = stored
    return users


def render_conf(mosquitto_dir: Path, port: int) -> str:
    """The shipped mosquitto.conf for this data dir, plus a pid file (provisioning talks to a
    running broker) and ``user`` = whoever provisions (a broker started as root drops to the
    files' owner)."""
    template = (SHIPPED / CONF).read_text(encoding="utf-8")
    conf = template.format(port=port, data_dir=mosquitto_dir, dynsec_plugin=dynsec.plugin_path())
    return (conf.rstrip("\n") + "\n\n# added by storenode-cloud provisioning\n"
            f"pid_file {mosquitto_dir / PID}\nuser {getpass.getuser()}\n")


def upgrade_conf(text: str, mosquitto_dir: Path) -> str:
    """An older conf's ``password_file``/``acl_file`` lines become the plugin's two lines."""
    plugin = (f"plugin {dynsec.plugin_path()}\n"
              f"plugin_opt_config_file {mosquitto_dir / dynsec.FILE}")
    out, done = [], False
    for line in text.splitlines():
        if re.match(r"\s*(password_file|acl_file)\s", line):
            if not done:
                out.append(plugin)
                done = True
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def dynsec_document(settings: Settings) -> dict[str, Any]:
    """A new state file: the cloud and admin users, and any stores of an old ``passwd``."""
    doc = dynsec.new_document(settings.broker_username, settings.broker_password,
                              settings.broker_admin_password)
    for user, stored in sorted(read_legacy_users(settings.mosquitto_dir).items()):
        if user not in dynsec.usernames(doc):
            dynsec.add_store(doc, user, legacy_fields(stored))
    return doc


def write_broker_files(settings: Settings) -> None:
    """Write ``mosquitto.conf`` unless it exists (an operator may have edited it; an old one is
    upgraded to the plugin) and the plugin's state file unless it exists."""
    mosq = settings.mosquitto_dir
    mosq.mkdir(mode=0o750, parents=True, exist_ok=True)
    conf = mosq / CONF
    if not conf.exists():
        write_atomic(conf, render_conf(mosq, broker_port(settings)), FILE_MODE)
    elif re.search(r"^\s*(password_file|acl_file)\s", conf.read_text(), re.M):
        write_atomic(conf, upgrade_conf(conf.read_text(), mosq), FILE_MODE)
    if dynsec.read(mosq / dynsec.FILE) is None:
        write_atomic(mosq / dynsec.FILE, dynsec.dumps(dynsec_document(settings)), FILE_MODE)
        for legacy in (LEGACY_PASSWD, LEGACY_ACL):
            if (mosq / legacy).exists():
                os.replace(mosq / legacy, mosq / f"{legacy}.migrated")


def broker_running(mosquitto_dir: Path) -> bool:
    """True when the pid file names a live mosquitto (a stale pid may be someone else's)."""
    try:
        pid = int((mosquitto_dir / PID).read_text().strip())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "mosquitto"
    except (OSError, ValueError):
        return False


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
    """The broker files, with the cloud's and the admin's users (passwords from the data dir)."""
    with _locked(settings.mosquitto_dir):
        write_broker_files(settings)


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
    """Provision a store: its row in the database and its broker user (username = store id,
    client id ``edge-<store>``), with a new random password. A running broker is told through
    its control topic and saves the state file itself; otherwise the file is written."""
    return add_stores(data_dir, [store], tenant)[0]


def add_stores(data_dir: Path, stores: list[str], tenant: str = "default"
               ) -> list[dict[str, Any]]:
    """Provision many stores at once (a chain's roll-out): all or none. One change of the
    broker's users for all of them (one state-file write, or one batch of control commands)
    instead of one per store, which rewrote the whole file each time (quadratic: 1,000 stores
    took minutes)."""
    for what, value in (("tenant", tenant), *(("store id", s) for s in stores)):
        if not ID.match(value):
            raise ValueError(f"{what} must match {ID.pattern}")
    if len(set(stores)) != len(stores):
        raise ValueError("a store id is given twice")
    ensure_data_dir(data_dir)
    settings = load_settings(data_dir)
    for store in stores:
        if store == settings.broker_username or store in RESERVED:
            raise ValueError(f"{store!r} is one of the cloud's own broker users")
    passwords = {store: secrets.token_urlsafe(24) for store in stores}
    db = CloudDb.open(settings.database)
    try:
        with _locked(settings.mosquitto_dir):
            write_broker_files(settings)
            taken = _broker_users(settings)
            for store in stores:
                if db.get_store(store) is not None or store in taken:
                    raise StoreExists(f"store {store!r} already exists (store ids are unique "
                                      "across the cloud: the broker username is the store id)")
            _broker_change(settings, passwords, add=True)
            try:
                db.add_stores(stores, tenant)
            except BaseException:
                _broker_change(settings, passwords, add=False)
                raise
    finally:
        db.close()
    return [{"store": store, "tenant": tenant, "username": store, "password": password}
            for store, password in passwords.items()]


def replace_store(data_dir: Path, store: str) -> dict[str, Any]:
    """A new box for ``store`` (ARCHITECTURE §4e): the next epoch at HQ and a broker user of
    its own, with a new random password; the old box keeps its user to drain until
    :func:`revoke_box`. ``{store, tenant, epoch, username, password, restored_seq}``."""
    settings = load_settings(data_dir)
    password = secrets.token_urlsafe(24)
    db = CloudDb.open(settings.database)
    try:
        with _locked(settings.mosquitto_dir):
            write_broker_files(settings)
            current = db.get_store(store)
            if current is None:
                raise UnknownStore(store)
            username = box_username(store, int(current["epoch"]) + 1)
            if username in _broker_users(settings):  # a replace that failed half-way
                _box_change(settings, [dynsec.delete_client_command(username)],
                            lambda doc: dynsec.remove_client(doc, username))
            _box_change(settings, dynsec.box_commands(store, username, password),
                        lambda doc: dynsec.add_box(doc, store, username,
                                                   dynsec.credentials(password)))
            try:
                result = db.replace_store(store)
            except BaseException:
                _box_change(settings, [dynsec.delete_client_command(username)],
                            lambda doc: dynsec.remove_client(doc, username))
                raise
    finally:
        db.close()
    return {"store": store, "tenant": result["tenant"], "epoch": result["epoch"],
            "username": username, "password": password, "restored_seq": result["restored_seq"]}


def revoke_box(data_dir: Path, store: str, epoch: int) -> dict[str, Any]:
    """End a superseded box's broker user (its outbox should have drained: ``storenode-cloud
    stores`` shows what HQ applied of it)."""
    settings = load_settings(data_dir)
    db = CloudDb.open(settings.database)
    try:
        with _locked(settings.mosquitto_dir):
            write_broker_files(settings)
            username = db.revoke_box(store, epoch)
            if username in _broker_users(settings):
                _box_change(settings, [dynsec.delete_client_command(username)],
                            lambda doc: dynsec.remove_client(doc, username))
    finally:
        db.close()
    return {"store": store, "epoch": epoch, "username": username, "revoked": True}


def _box_change(settings: Settings, commands: list[dict[str, Any]],
                edit: Callable[[dict[str, Any]], None]) -> None:
    """One change of the broker's users: through the running broker's control topic, or in
    the state file when no broker runs."""
    mosq = settings.mosquitto_dir
    if broker_running(mosq):
        if not settings.broker:
            raise dynsec.ControlError("a broker runs from this data dir but broker.url is not "
                                      "set: provisioning cannot reach its control topic")
        dynsec.apply(settings.broker, settings.broker_admin_password, commands,
                     ca_file=settings.ca_file)
        return
    doc = dynsec.read(mosq / dynsec.FILE)
    assert doc is not None  # write_broker_files made it
    edit(doc)
    write_atomic(mosq / dynsec.FILE, dynsec.dumps(doc), FILE_MODE)


def _broker_users(settings: Settings) -> set[str]:
    doc = dynsec.read(settings.mosquitto_dir / dynsec.FILE)
    return dynsec.usernames(doc) if doc is not None else set()


def _broker_change(settings: Settings, passwords: dict[str, str], *, add: bool) -> None:
    """Add (or take back) stores' broker users and roles, in one change."""
    if add:
        commands = [c for store, pw in passwords.items()
                    for c in dynsec.store_commands(store, pw)]

        def edit(doc: dict[str, Any]) -> None:
            for store, password in passwords.items():
                dynsec.add_store(doc, store, dynsec.credentials(password))
    else:
        commands = [c for store in passwords for c in dynsec.delete_store_commands(store)]

        def edit(doc: dict[str, Any]) -> None:
            for store in passwords:
                dynsec.remove_store(doc, store)
    _box_change(settings, commands, edit)


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
    """Serialise read-modify-write of the broker's users between concurrent commands."""
    mosquitto_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    with open(mosquitto_dir / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
