"""Signals, recorded: the handlers only note what arrived and wake the supervisor's loop.

Shape borrowed from uvicorn's supervisors (``capture_signals``): a handler that did real
work could run between any two bytecodes of the main thread, halfway through a restart or
a reload.  So a handler records; the supervisor's loop, and during a stop its shutdown
guard, read the record and act.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: SIGINT and SIGTERM stop gracefully (a second SIGINT forces); SIGHUP reloads the config.
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class CapturedSignals:
    """What arrived since the run began."""

    def __init__(self) -> None:
        self.stops: list[signal.Signals] = []  # SIGINT / SIGTERM, in order of arrival
        self.reload_requested = False
        self.force_exit = False  # a second SIGINT: skip the graceful path
        self.wake = threading.Event()

    @property
    def stop_requested(self) -> bool:
        return bool(self.stops)

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        """The handler itself: record and wake, nothing else."""
        received = signal.Signals(signum)
        if received is signal.SIGHUP:
            self.reload_requested = True
        elif received is signal.SIGINT and signal.SIGINT in self.stops:
            self.force_exit = True
        else:
            self.stops.append(received)
        self.wake.set()

    def take_reload(self) -> bool:
        """True once per SIGHUP burst: several in a row ask for one reload."""
        requested, self.reload_requested = self.reload_requested, False
        return requested


@contextlib.contextmanager
def capture_signals(captured: CapturedSignals) -> Iterator[CapturedSignals]:
    """Record ``HANDLED`` signals into ``captured`` inside the block; restore on the way out."""
    previous = {sig: signal.signal(sig, captured.handle) for sig in HANDLED}
    try:
        yield captured
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
