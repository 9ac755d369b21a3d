"""The sliding-window rate limit of the guest routes."""

from __future__ import annotations

from common.ratewindow import RateWindow


def test_rate_window_allows_limit_per_window_per_key() -> None:
    window = RateWindow(3, 60)
    assert [window.allow("A1", t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert window.allow("A2", 3)  # another key has its own window
    assert window.retry_after("A1", 3) == 57
    assert not window.allow("A1", 59.9) and window.allow("A1", 60.0)


def test_rate_window_forgets_idle_keys() -> None:
    window = RateWindow(1, 10)
    for n in range(5000):
        window.allow(f"k{n}", 0)
    window.allow("late", 100)
    assert len(window) < 10
