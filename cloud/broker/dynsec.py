"""The broker's access control: Mosquitto's dynamic-security plugin (ARCHITECTURE §3, inv. 6).

Why the plugin and not ``acl_file``: Mosquitto 2.0's ``acl_file`` grants every SUBSCRIBE and
only filters on delivery, so a store could join the cloud's shared-subscription group
(``$share/cloud/…/up``), take its turn and swallow other stores' batches. The plugin checks
subscriptions when they are asked for and answers a refused one with reason code 0x87, and
it binds a client id to a username, so a store can only ever connect as ``edge-<store>``
(it cannot take over another store's session and fire its Will). It ships with Debian's
mosquitto 2.0.

The plugin's state file ``dynamic-security.json`` is built here: one role per store that
allows exactly its own topics (from ``sync.topics.KINDS``: the store publishes what goes
``edge->cloud`` and subscribes to what goes ``cloud->edge``), the cloud's role (the shared
group and the stores' state, publishing acks and the change feed) and an admin role that may
only use the plugin's control topic. Everything else is denied by default, including ``#``
and ``$SYS/#``. The broker reads the file at start; while it runs it owns the file, so changes
go through its control topic (``$CONTROL/dynamic-security/v1``), and it saves them itself.
"""

from __future__ import annotations

import asyncio
import base64
import glob
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from sync import topics
from sync.mqtt import MqttClient

FILE = "dynamic-security.json"
CONTROL = "$CONTROL/dynamic-security/v1"
ADMIN_USER = "cloud-admin"
ITERATIONS = 1000  # PBKDF2-SHA512 rounds (mosquitto_ctrl writes 101; the broker reads any)
SALT_BYTES = 12
PLUGIN_GLOBS = ("/usr/lib/*/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so",
                "/usr/local/lib/mosquitto_dynamic_security.so")
TIMEOUT_S = 10.0  # how long provisioning waits for a running broker's answer
DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False,
                  "subscribe": False, "unsubscribe": True}


class ControlError(Exception):
    """The running broker refused or did not answer a dynamic-security command."""


def plugin_path() -> str:
    for pattern in PLUGIN_GLOBS:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise FileNotFoundError("Mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so)"
                            " was not found: install Mosquitto 2.0 or newer")


def edge_client_id(store: str) -> str:
    """The only client id a store's broker user may connect with (the edge daemon's)."""
    return f"edge-{store}"


def credentials(password: str, iterations: int = ITERATIONS,
                salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's password fields: base64 PBKDF2-HMAC-SHA512 (64 bytes), salt, iterations."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return {"password": base64.b64encode(digest).decode(),
            "salt": base64.b64encode(salt).decode(), "iterations": iterations}


def check_password(password: str, client: dict[str, Any]) -> bool:
    try:
        salt = base64.b64decode(client["salt"])
        expected = credentials(password, int(client["iterations"]), salt)["password"]
    except (KeyError, ValueError, TypeError):
        return False
    return secrets.compare_digest(expected, str(client.get("password", "")))


# -- roles, as data ---------------------------------------------------------------------
def _acls(send: list[str], receive: list[str]) -> list[dict[str, Any]]:
    acls = [{"acltype": "publishClientSend", "topic": t, "allow": True} for t in send]
    for filt in receive:
        acls.append({"acltype": "subscribePattern", "topic": filt, "allow": True})
        plain = filt.split("/", 2)[2] if filt.startswith("$share/") else filt
        acls.append({"acltype": "publishClientReceive", "topic": plain, "allow": True})
    return acls


def _kinds(direction: str) -> list[str]:
    return [kind for kind, (way, _) in topics.KINDS.items() if way == direction]


def store_role_name(store: str) -> str:
    return f"store-{store}"


def store_role(store: str) -> dict[str, Any]:
    """Exactly the store's own topics (any tenant: store ids are unique cloud-wide)."""
    own = f"{topics.PREFIX}/+/{store}"
    return {"rolename": store_role_name(store),
            "acls": _acls([f"{own}/{k}" for k in _kinds("edge->cloud")],
                          [f"{own}/{k}" for k in _kinds("cloud->edge")])}


def cloud_role() -> dict[str, Any]:
    """The workers' shared group (and, for a single reader, the same topics unshared)."""
    every = f"{topics.PREFIX}/+/+"
    receive = dict.fromkeys(topics.cloud_subscriptions() + topics.cloud_subscriptions(False))
    return {"rolename": "cloud",
            "acls": _acls([f"{every}/{k}" for k in _kinds("cloud->edge")], list(receive))}


def admin_role() -> dict[str, Any]:
    return {"rolename": "admin", "acls": [
        {"acltype": "publishClientSend", "topic": CONTROL, "allow": True},
        {"acltype": "subscribePattern", "topic": f"{CONTROL}/response", "allow": True},
        {"acltype": "publishClientReceive", "topic": f"{CONTROL}/response", "allow": True}]}


def client(username: str, password_fields: dict[str, Any], role: str,
           clientid: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"username": username, **password_fields,
                             "roles": [{"rolename": role}]}
    if clientid:
        entry["clientid"] = clientid
    return entry


def store_client(store: str, password_fields: dict[str, Any]) -> dict[str, Any]:
    return client(store, password_fields, store_role_name(store), edge_client_id(store))


# -- the state file ---------------------------------------------------------------------
def new_document(cloud_user: str, cloud_password: str, admin_password: str) -> dict[str, Any]:
    return {"defaultACLAccess": dict(DEFAULT_ACCESS),
            "clients": [client(cloud_user, credentials(cloud_password), "cloud"),
                        client(ADMIN_USER, credentials(admin_password), "admin")],
            "groups": [], "roles": [cloud_role(), admin_role()]}


def usernames(doc: dict[str, Any]) -> set[str]:
    return {c["username"] for c in doc.get("clients", [])}


def add_store(doc: dict[str, Any], store: str, password_fields: dict[str, Any]) -> None:
    doc["roles"].append(store_role(store))
    doc["clients"].append(store_client(store, password_fields))


def remove_store(doc: dict[str, Any], store: str) -> None:
    doc["clients"] = [c for c in doc["clients"] if c["username"] != store]
    doc["roles"] = [r for r in doc["roles"] if r["rolename"] != store_role_name(store)]


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("clients"), list):
        raise ValueError(f"{path} is not a dynamic-security state file")
    doc.setdefault("roles", [])
    doc.setdefault("groups", [])
    return doc


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


# -- the running broker's control topic ----------------------------------------------------
def store_commands(store: str, password: str) -> list[dict[str, Any]]:
    role = store_role(store)
    return [{"command": "createRole", "rolename": role["rolename"], "acls": role["acls"]},
            {"command": "createClient", "username": store, "password": password,
             "clientid": edge_client_id(store), "roles": [{"rolename": role["rolename"]}]}]


def box_commands(store: str, username: str, password: str) -> list[dict[str, Any]]:
    """Another box of an existing store: its own user and client id, the store's role."""
    return [{"command": "createClient", "username": username, "password": password,
             "clientid": f"edge-{username}", "roles": [{"rolename": store_role_name(store)}]}]


def add_box(doc: dict[str, Any], store: str, username: str,
            password_fields: dict[str, Any]) -> None:
    doc["clients"].append(client(username, password_fields, store_role_name(store),
                                 f"edge-{username}"))


def remove_client(doc: dict[str, Any], username: str) -> None:
    doc["clients"] = [c for c in doc["clients"] if c["username"] != username]


def delete_client_command(username: str) -> dict[str, Any]:
    return {"command": "deleteClient", "username": username}


def delete_store_commands(store: str) -> list[dict[str, Any]]:
    return [delete_client_command(store),
            {"command": "deleteRole", "rolename": store_role_name(store)}]


def apply(url: str, admin_password: str, commands: list[dict[str, Any]],
          ca_file: str | None = None) -> None:
    """Send ``commands`` to the running broker as the admin user; raises ``ControlError``
    unless every one succeeded (the broker then saves its state file itself)."""
    asyncio.run(_apply(url, admin_password, commands, ca_file, TIMEOUT_S))


async def _apply(url: str, admin_password: str, commands: list[dict[str, Any]],
                 ca_file: str | None, timeout: float) -> None:
    answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    mqtt = MqttClient(url, f"{ADMIN_USER}-{secrets.token_hex(6)}", username=ADMIN_USER,
                      password=admin_password, keepalive=10, ca_file=ca_file,
                      backoff=(0.2, 1.0))

    def on_message(_topic: str, payload: bytes) -> None:
        if not answer.done():
            answer.set_result(payload)

    mqtt.on_message = on_message
    mqtt.start()
    try:
        async with asyncio.timeout(timeout):
            await mqtt.connected.wait()
            if any(code >= 0x80 for code in await mqtt.subscribe([f"{CONTROL}/response"])):
                raise ControlError("the broker refused the admin user its control topic")
            await mqtt.publish(CONTROL, json.dumps({"commands": commands}).encode())
            responses = json.loads(await answer)["responses"]
    except TimeoutError as exc:
        raise ControlError(f"the broker at {url} did not answer its control topic within "
                           f"{timeout:.0f} s ({mqtt.last_error or 'no answer'})") from exc
    finally:
        await mqtt.close()
    failed = [r for r in responses if r.get("error")]
    if failed:
        raise ControlError("; ".join(f"{r.get('command')}: {r['error']}" for r in failed))
