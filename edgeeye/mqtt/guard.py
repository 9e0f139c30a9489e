"""Callbacks paho runs in the thread that serves its socket, made unable to kill it.

paho re-raises what a callback raises (unless ``suppress_exceptions``), and the thread
serving its socket (the appliance's publisher thread; paho's own in ``watch``) dies with
it: nothing reconnects, and results handed over afterwards never leave.
Every callback we give paho goes through ``guarded``, which logs what escaped (once per
callback and kind of error, so a flood of bad input costs one line) and returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import ParamSpec

log = logging.getLogger(__name__)

P = ParamSpec("P")


class CallbackGuard:
    """Wraps paho callbacks; ``failures`` counts what they raised, by callback."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, callback: Callable[P, None]) -> Callable[P, None]:
        name = getattr(callback, "__name__", "callback")

        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                callback(*args, **kwargs)
            except Exception as exc:
                self._record(name, exc)

        return guarded

    def _record(self, name: str, exc: Exception) -> None:
        key = f"{name}: {type(exc).__name__}"
        with self._lock:
            self.failures[key] = self.failures.get(key, 0) + 1
            first = self.failures[key] == 1
        if first:
            # The traceback once: an error here is ours to fix, whatever input caused it.
            log.error("MQTT callback %s failed; the connection goes on", key, exc_info=exc)
