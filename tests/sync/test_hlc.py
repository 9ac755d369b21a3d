"""The HLC's drift bound: a remote timestamp further ahead of the local wall clock than
``max_drift_ms`` is refused (ClockDrift), counted and logged, and leaves the clock as it was;
one within the bound is followed as before. The edge's bound comes from ``edge.toml``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.config import ConfigError, load_settings
from sync.hlc import DEFAULT_MAX_DRIFT_MS, ClockDrift, HybridLogicalClock, format_hlc, parse_hlc
from tests.helpers import make_store


def test_a_remote_within_the_bound_is_followed() -> None:
    wall = [1_000_000]
    clock = HybridLogicalClock(lambda: wall[0], max_drift_ms=5_000)
    assert parse_hlc(clock.observe(format_hlc(1_005_000, 3))) == (1_005_000, 4)
    assert clock.drift_rejected == 0


def test_a_remote_beyond_the_bound_is_refused_counted_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    wall = [1_000_000]
    clock = HybridLogicalClock(lambda: wall[0], max_drift_ms=5_000)
    before = clock.now()
    far = format_hlc(1_005_001, 0)  # 1 ms past the bound
    with caplog.at_level(logging.WARNING, logger="sync.hlc"), pytest.raises(ClockDrift) as err:
        clock.observe(far)
    assert err.value.remote == far and err.value.max_drift_ms == 5_000
    assert clock.drift_rejected == 1
    assert any("refused a remote timestamp" in r.getMessage() and far in r.getMessage()
               for r in caplog.records)
    # the clock did not move: the next local timestamp follows the wall clock, not `far`
    after = clock.now()
    assert parse_hlc(after) == (1_000_000, parse_hlc(before)[1] + 1)
    # as wall time catches up, the same timestamp becomes acceptable
    wall[0] = 1_000_002
    assert clock.observe(far) > far and clock.drift_rejected == 1


def test_the_default_bound_is_five_minutes() -> None:
    wall = [10_000_000]
    clock = HybridLogicalClock(lambda: wall[0])
    assert clock.max_drift_ms == DEFAULT_MAX_DRIFT_MS == 300_000
    clock.observe(format_hlc(10_300_000, 0))
    with pytest.raises(ClockDrift):
        clock.observe(format_hlc(10_300_001, 0))
    with pytest.raises(ValueError):
        HybridLogicalClock(max_drift_ms=0)


def test_the_edge_setting(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    assert load_settings(store).max_clock_drift_s == 300
    env = {"STORENODE_SYNC_MAX_CLOCK_DRIFT_S": "60"}
    assert load_settings(store, env=env).max_clock_drift_s == 60
    with pytest.raises(ConfigError, match="max_clock_drift_s"):
        load_settings(store, env={"STORENODE_SYNC_MAX_CLOCK_DRIFT_S": "0"})
