"""The Retry-After arithmetic of the sliding-window counter."""

from __future__ import annotations

from server.middleware.ratelimit import _retry_after


def test_full_current_window_waits_past_the_rollover():
    # 10 allowed per 60 s, 10 used in this window which is half over, nothing before.
    assert _retry_after(10, 60, 0.5, 0, 10) == 30 + 6


def test_previous_window_weight_decays():
    # 10 per 60 s, 8 in the previous window, 2 now, a quarter into this window:
    # 8 * w + 2 + 1 <= 10 once w <= 7/8, i.e. 1/8 into the window: already passed -> at least 1 s.
    assert _retry_after(10, 60, 0.25, 8, 2) == 1
    # Early in the window (w = 0.95): must wait until w = 7/8, that is 0.125 - 0.05 = 0.075 * 60 = 4.5 s.
    assert _retry_after(10, 60, 0.05, 8, 2) == 5
