"""Salted scrypt hashes for staff PINs and HQ users' passwords (``scrypt$n$salt$digest``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, salt, digest = stored.split("$")
        params = {**_SCRYPT, "n": int(n)}
        got = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), **params)
    except (ValueError, TypeError):
        return False
    return scheme == "scrypt" and hmac.compare_digest(got.hex(), digest)
