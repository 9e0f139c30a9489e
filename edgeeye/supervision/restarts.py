"""When to restart a failed child and when to give up: counted, windowed, backed off.

The supervisor asks; these only count.  Restarts are limited the way systemd limits a
unit's starts (N in a window, then stop and let the next level decide), and a failing
source is retried after a delay that doubles up to a cap, so an unplugged camera costs a
retry every 30 s rather than a busy loop.
"""

from __future__ import annotations

import time
from collections import deque


class RestartWindow:
    """Allows ``limit`` restarts within any ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def allow(self, now: float | None = None) -> bool:
        """Record a restart at ``now``; False if it is one too many for the window."""
        now = time.monotonic() if now is None else now
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True


class Backoff:
    """Consecutive failures of one child and the delay before its next start."""

    def __init__(self, first_s: float, max_s: float, retries: int) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.retries = retries
        self.failures = 0

    def failed(self) -> float | None:
        """Count a failure; the delay before retrying, or None when retries are spent."""
        self.failures += 1
        if self.failures > self.retries:
            return None
        return float(min(self.max_s, self.first_s * 2.0 ** (self.failures - 1)))

    def succeeded(self) -> None:
        self.failures = 0
