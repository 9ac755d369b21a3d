"""What both services' Prometheus metrics share."""

from __future__ import annotations

from typing import Final

# request latency histogram buckets, seconds
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
