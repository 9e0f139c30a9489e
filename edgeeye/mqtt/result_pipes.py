"""The workers' result pipes, as the publisher thread reads them: one pipe per worker.

Each worker alone writes its own pipe, so a killed worker ends its pipe (EOF) and cannot
wedge the others.  The worker pool adds a pipe on the main thread as it starts a worker;
the publisher thread waits on all of them, and on paho's socket (``mqtt.network``), and
reads whichever is ready.  The pipes stay registered with that one selector (epoll on
Linux) rather than being registered anew for every wait, which for each result would cost
more than reading it.
"""

from __future__ import annotations

import logging
import selectors
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import cast

from edgeeye.pipeline.messages import Result, WorkerFailed, WorkerMessage, WorkerReady

log = logging.getLogger(__name__)


class ResultPipes:
    """The pipes still open, by worker id, registered with the publisher thread's
    ``selector``; ``wake`` makes that thread's wait return when a pipe is added."""

    def __init__(self, selector: selectors.BaseSelector, wake: Callable[[], None]) -> None:
        self._pipes: dict[Connection, int] = {}
        self._lock = threading.Lock()
        self._selector = selector
        self._wake = wake

    def add(self, worker_id: int, pipe: Connection) -> None:
        with self._lock:
            self._pipes[pipe] = worker_id
            self._selector.register(pipe, selectors.EVENT_READ, self)
        self._wake()  # its ready message must not wait for the end of the current wait

    def take_all(self) -> dict[Connection, int]:
        """Every open pipe, now no longer read here (a successor publisher adds them)."""
        with self._lock:
            pipes, self._pipes = self._pipes, {}
            for pipe in pipes:
                self._selector.unregister(pipe)
        return pipes

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._pipes)

    def ready(self, events: Sequence[tuple[selectors.SelectorKey, int]]) -> list[Connection]:
        """The pipes among what a wait on the selector returned: a message (or an end) is
        waiting on each.  One taken away since is skipped."""
        with self._lock:
            ready = [cast(Connection, key.fileobj) for key, _ in events if key.data is self]
            return [pipe for pipe in ready if pipe in self._pipes]

    def read(self, pipe: Connection) -> WorkerMessage | None:
        """The next message on a ready pipe; None once it has ended (then it is forgotten)."""
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            with self._lock:
                worker_id = self._pipes.pop(pipe, None)
                if worker_id is not None:
                    self._selector.unregister(pipe)
            pipe.close()
            log.debug("worker %s closed its results pipe", worker_id)
            return None
        if isinstance(message, Result | WorkerFailed | WorkerReady):
            return message
        log.error("unexpected message on a results pipe: %r", message)
        return None
