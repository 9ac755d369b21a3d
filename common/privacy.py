"""What an erasure removes from event and change data (both services scrub their copies)."""

from __future__ import annotations

from typing import Any, Final

# the keys of event and change data that hold what is the member's own
PERSONAL: Final = frozenset({"name", "phone", "note", "comment", "birthday", "identities",
                             "identity", "idhash", "last4", "fields", "skus"})


def scrub(value: Any) -> Any:
    """``value`` without its personal fields, recursively."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in PERSONAL}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value
