"""The restart policy's arithmetic: windows, doubling delays, and when to give up."""

from __future__ import annotations

from edgeeye.supervision.restarts import Backoff, RestartWindow


def test_window_allows_limit_restarts_then_refuses_until_old_ones_age_out():
    window = RestartWindow(limit=2, window_s=10)
    assert window.allow(now=0) and window.allow(now=1)
    assert not window.allow(now=5)
    assert window.allow(now=10.5)  # the restart at 0 has left the window
    assert not window.allow(now=10.6)


def test_zero_limit_refuses_the_first_restart():
    assert not RestartWindow(limit=0, window_s=60).allow(now=0)


def test_backoff_doubles_up_to_the_cap_and_gives_up_after_the_retries():
    backoff = Backoff(first_s=1, max_s=5, retries=4)
    assert [backoff.failed() for _ in range(5)] == [1, 2, 4, 5, None]
    assert backoff.failures == 5


def test_success_starts_the_count_again():
    backoff = Backoff(first_s=0.5, max_s=30, retries=2)
    backoff.failed()
    backoff.failed()
    backoff.succeeded()
    assert backoff.failed() == 0.5
