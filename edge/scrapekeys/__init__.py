"""Scrape keys: what Prometheus sends to ``GET /metrics`` of this box instead of a staff
token that expires after a shift. Made and revoked with ``storenode metrics-key``; stored as
a digest; they open ``GET /metrics`` and nothing else. docs/operations.md is the manual."""
