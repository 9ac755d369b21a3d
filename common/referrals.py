"""Referral codes (docs/members.md, "Referrals"): what the till, HQ and the pages agree on.

A code is 8 characters of an alphabet without look-alikes (no 0/O, 1/I/L), read case-blind:
a guest reads it off a friend's phone and types it at the till. 31^8 ≈ 8.5e11 codes, drawn
at random by HQ (``secrets``), so a code says nothing about its member and cannot be guessed
from another one.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, Final

ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH: Final = 8
CODE_PATTERN: Final = re.compile(r"^[2-9A-HJKMNP-Za-hjkmnp-z]{8}(?!\n)$")
REFERRAL_CODE: Final[dict[str, Any]] = {"type": "string", "pattern": CODE_PATTERN.pattern}


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normal(code: str) -> str | None:
    """The stored form of a code a guest typed (upper case), None if it is not a code."""
    return code.upper() if CODE_PATTERN.match(code) else None
