"""JSON Schemas about staff."""

from __future__ import annotations

from edge.staff.roles import ROLES

STAFF_ROLE = {"type": "string", "enum": list(ROLES)}
