"""What each API key scope opens, declared as data (pure: no I/O).

A key's scopes decide alone, route by route (``(method, path)`` as in the route table,
``cloud/routes.py``): ``metrics`` is Prometheus, ``read`` a BI tool reading like an analyst,
``guest`` the brand's mini-program backend, ``platform`` a delivery-platform integration,
``admin`` a deployment script doing what an hq_admin does. No scope opens the keys' own
routes: keys are made and revoked by people, so a leaked key cannot make itself a successor.
The public routes need no key (the guest relay's table token, the platforms' signed
webhooks, feedback, tracking): a key sent there is not looked at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

KEYS_PATH: Final = "/api/v1/keys"
_RESERVATIONS: Final = "/api/v1/stores/{store}/reservations"
# the brand's mini-program backend: book a table through HQ, follow and cancel the booking;
# the member's invitation code and link (its guest relay orders are public: the table token)
GUEST_ROUTES: Final = frozenset({
    ("POST", _RESERVATIONS),
    ("GET", f"{_RESERVATIONS}/{{id}}"),
    ("POST", f"{_RESERVATIONS}/{{id}}/cancel"),
    ("GET", "/api/v1/members/{member}/referral"),
})
# a delivery-platform integration: the orders forwarded to the stores and their status, the
# callbacks to the platform, the refused webhook requests (the webhooks are public: signed)
PLATFORM_ROUTES: Final = frozenset({
    ("GET", "/api/v1/platforms/orders"),
    ("GET", "/api/v1/platforms/callbacks"),
    ("GET", "/api/v1/platforms/rejects"),
})

Rule = Callable[[str, str], bool]  # (method, route path) -> allowed
RULES: Final[dict[str, Rule]] = {
    "metrics": lambda method, path: (method, path) == ("GET", "/metrics"),
    "read": lambda method, path: method == "GET" and path.startswith("/api/"),
    "guest": lambda method, path: (method, path) in GUEST_ROUTES,
    "platform": lambda method, path: (method, path) in PLATFORM_ROUTES,
    "admin": lambda method, path: True,
}
SCOPES: Final[tuple[str, ...]] = tuple(RULES)
SCOPES_SCHEMA: Final[dict[str, Any]] = {
    "type": "array", "minItems": 1, "maxItems": len(SCOPES), "uniqueItems": True,
    "items": {"type": "string", "enum": list(SCOPES)}}


def opening(method: str, path: str) -> list[str]:
    """The scopes that open ``method`` on the route ``path`` (empty for the keys' routes)."""
    method = "GET" if method == "HEAD" else method
    if path == KEYS_PATH or path.startswith(KEYS_PATH + "/"):
        return []
    return [scope for scope, rule in RULES.items() if rule(method, path)]


def allows(scopes: list[str], method: str, path: str) -> bool:
    return not set(scopes).isdisjoint(opening(method, path))


def document_scopes(document: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI document with ``x-key-scopes`` on every operation that needs a token: the
    scopes of an API key that open it."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") != []:
                operation["x-key-scopes"] = opening(method.upper(), path)
    return document
