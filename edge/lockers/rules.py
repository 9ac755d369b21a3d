"""Pickup-locker rules: which orders go to a locker, pickup codes, assignment states."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from typing import Final

from common.vocabulary import PLATFORM_CHANNELS

# delivery channels whose riders collect from the locker even without ``pickup``: the
# delivery platforms of the common vocabulary
LOCKER_CHANNELS: Final = frozenset(PLATFORM_CHANNELS)
CODE_DIGITS: Final = 6
# assignment state -> what it means; ``loading`` and ``active`` and ``expired`` hold the
# compartment, the others do not
STATES: Final[dict[str, str]] = {
    "loading": "compartment chosen, its door is being opened for staff to load the order",
    "active": "the order is in the compartment, waiting for its code",
    "collected": "opened with the code: the order was picked up",
    "expired": "not collected in time: back to staff (still in the compartment)",
    "released": "staff emptied the compartment",
    "with_staff": "no compartment: the order stays at the counter (see reason)",
}
HOLDING: Final = ("loading", "active", "expired")


def wants_locker(channel: str, pickup: bool) -> bool:
    return pickup or channel in LOCKER_CHANNELS


def new_code(below: Callable[[int], int] = secrets.randbelow) -> str:
    """A uniformly random 6-digit code (leading zeros kept)."""
    return f"{below(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def valid_code(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


def code_key(secret: bytes) -> bytes:
    """The key codes are hashed with, derived from the store's ``secret.key``."""
    return hashlib.sha256(b"storenode-locker-code:" + secret).digest()


def code_digest(key: bytes, code: str) -> str:
    """What the database keeps instead of the code: HMAC-SHA256, so a copy of the database
    alone does not give the codes (10^6 guesses would, with a plain hash)."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def first_free(compartments: int, taken: Iterable[int]) -> int | None:
    """The lowest-numbered compartment of 1..compartments not in ``taken``."""
    busy = set(taken)
    return next((n for n in range(1, compartments + 1) if n not in busy), None)
