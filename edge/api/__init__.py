"""The LAN API (ARCHITECTURE §4): JSON over HTTP under /api/v1."""
