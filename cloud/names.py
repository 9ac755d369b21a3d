"""What a store, tenant or user id may be at HQ: also a segment of the MQTT topics and of the
broker's user names."""

from __future__ import annotations

import re

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}(?!\n)$")  # store, tenant and user ids
