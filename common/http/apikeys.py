"""Machine credentials: API keys (HQ) and scrape keys (edge), both services' shared part.

A key reads ``<prefix><id>_<secret>``, e.g. ``snk_3f9a1c0b2d4e_Qm9…`` (43 characters of
secret): the prefix tells which kind of key it is (and lets secret scanners find one in a
repository); a signed user token never starts so (it reads ``eyJ….…``: base64url of a JSON
object, a dot, the signature). The id is not secret: it names the key in lists, logs and
``revoke``; the secret is 32 random bytes, shown once and stored only as a SHA-256 digest.

A key travels as ``Authorization: Bearer <key>``, never in a URL (proxies and access logs
keep URLs).
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from common.clock import age_s
from common.http.auth import header_token, needs_token
from common.http.errors import ApiError

ID_PATTERN: Final = re.compile(r"^[0-9a-f]{12}(?!\n)$")
SECRET_BYTES: Final = 32
TOUCH_EVERY_S: Final = 60  # last_used_at is written at most once a minute per key
_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9 _.:@/-]{0,63}(?!\n)$"
NAME_PATTERN: Final = re.compile(_NAME)  # what a key's name may be: what reads it, e.g. grafana
NAME: Final = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _NAME}


def check_name(name: str) -> None:
    """ValueError unless ``name`` may name a key (``NAME``)."""
    if not NAME_PATTERN.match(name):
        raise ValueError("a key's name is 1-64 characters: letters, digits, space and "
                         "_.:@/- (a letter or digit first)")


def digest(key: str) -> str:
    """What is stored of a key: its SHA-256 (hex), never the key.

    A fast hash, not a password KDF (scrypt): the secret is 256 random bits, so nobody can
    search it from the digest however fast the hash is (a KDF protects low-entropy passwords,
    which a key is not), and a fast hash keeps checking a key on every request cheap. No
    salt is needed for the same reason (no two keys share a secret); the domain prefix keeps
    these digests apart from any other SHA-256 in the database."""
    return hashlib.sha256(b"storenode-key\x00" + key.encode()).hexdigest()


def matches(stored: str, key: str) -> bool:
    """Whether ``key`` is the key ``stored`` is the digest of (constant time)."""
    return hmac.compare_digest(stored, digest(key))


def operator() -> str:
    """Who makes or revokes a key from a command line, for the keys' audit: ``cli:<account>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli"


def touch_due(last_used_at: str | None) -> bool:
    """Whether a key's ``last_used_at`` is older than ``TOUCH_EVERY_S`` (or never set)."""
    age = age_s(last_used_at)
    return age is None or age >= TOUCH_EVERY_S


@dataclass(frozen=True)
class KeyFormat:
    """One kind of key: ``prefix`` (``snk_``: HQ's API keys; ``snm_``: an edge's scrape
    keys)."""

    prefix: str

    def new(self) -> tuple[str, str]:
        """A fresh ``(id, key)``."""
        key_id = secrets.token_hex(6)
        return key_id, f"{self.prefix}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"

    def shown(self, key_id: str) -> str:
        """What lists show of a key: its prefix and id, e.g. ``snk_3f9a1c0b2d4e``."""
        return f"{self.prefix}{key_id}"

    def key_id(self, key: str) -> str | None:
        """The id of a key of this kind, None when ``key`` is not one."""
        rest = key[len(self.prefix):] if key.startswith(self.prefix) else ""
        key_id, sep, secret = rest.partition("_")
        ok = sep and ID_PATTERN.match(key_id) and len(secret) >= SECRET_BYTES
        return key_id if ok else None

    def presented(self, request: web.Request, public_paths: frozenset[str]
                  ) -> tuple[str, str] | None:
        """``(id, key)`` when the request authenticates with a key of this kind: a route that
        needs a token (``common.http.auth.needs_token``) and ``Authorization: Bearer
        <prefix>…``. None for anything else (a user's token, a public route). A malformed
        key is 401."""
        token = header_token(request)
        if not token.startswith(self.prefix) or not needs_token(request, public_paths):
            return None
        key_id = self.key_id(token)
        if key_id is None:
            raise unknown_key()
        return key_id, token


def unknown_key() -> ApiError:
    """The answer to a key that is malformed, unknown or revoked: 401, the same for all."""
    return ApiError(401, "unauthorized", "unknown or revoked key",
                    headers={"WWW-Authenticate": "Bearer"})
