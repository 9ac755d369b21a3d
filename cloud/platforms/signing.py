"""The three ways platforms sign a request (docs/platforms.md, "Signatures").

- **Meituan-style**: every parameter but ``sig`` sorted by name, joined as ``k=v&k=v``, the
  secret appended, MD5 as lowercase hex. The ``timestamp`` (Unix seconds) is one of the
  parameters, so it is signed too.
- **Eleme-style**: every parameter but ``signature`` and ``timestamp`` sorted by name and
  concatenated as ``k=v`` with no separator (a non-string value as compact JSON), then the
  secret, then the ``timestamp`` (Unix milliseconds); SHA-256 as uppercase hex.
- **Generic HMAC**: header ``X-Signature: t=<unix s>,v1=<hex>`` with
  ``v1 = HMAC-SHA256(secret, "<t>." + raw body)``; several ``v1`` entries may be sent (one
  per secret during a rotation), any one matching is enough.

Every comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Final

from common import wire

GENERIC_HEADER: Final = "X-Signature"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def meituan_sign(params: Mapping[str, str], secret: str) -> str:
    base = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sig") + secret
    return hashlib.md5(base.encode()).hexdigest()


def eleme_sign(params: Mapping[str, Any], secret: str) -> str:
    body = "".join(f"{k}={_text(params[k])}" for k in sorted(params)
                   if k not in ("signature", "timestamp"))
    base = body + secret + _text(params.get("timestamp", ""))
    return hashlib.sha256(base.encode()).hexdigest().upper()


def hmac_sign(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def parse_hmac_header(header: str) -> tuple[int, list[str]]:
    """``t=…,v1=…[,v1=…]`` -> (t, [v1, …]); ValueError when it is not that."""
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise ValueError("not t=…,v1=…")
        if key == "t":
            stamp = wire.digits(value, 12)  # ValueError unless 1-12 ASCII digits
        elif key == "v1":
            signatures.append(value)
    if stamp is None or not signatures:
        raise ValueError("t and v1 are required")
    return stamp, signatures


def hmac_valid(body: bytes, secret: str, timestamp: int, signatures: list[str]) -> bool:
    expected = hmac_sign(body, secret, timestamp).rpartition("v1=")[2]
    return any(equal(expected, s) for s in signatures)


def equal(a: str, b: str) -> bool:
    """Constant-time ``a == b`` for any text a client sends: ``compare_digest`` refuses a
    non-ASCII str, and a header's undecodable bytes arrive as lone surrogates."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))
