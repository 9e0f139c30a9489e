"""The workers' result pipes, as the publisher thread reads them: one pipe per worker.

Each worker alone writes its own pipe, so a killed worker ends its pipe (EOF) and cannot
wedge the others.  The worker pool adds a pipe on the main thread as it starts a worker;
the publisher thread waits on all of them and reads whichever is ready.
"""

from __future__ import annotations

import logging
import threading
from multiprocessing.connection import Connection, wait
from typing import cast

from edgeeye.pipeline.messages import Result, WorkerFailed, WorkerMessage, WorkerReady

log = logging.getLogger(__name__)


class ResultPipes:
    """The pipes still open, by worker id."""

    def __init__(self) -> None:
        self._pipes: dict[Connection, int] = {}
        self._lock = threading.Lock()

    def add(self, worker_id: int, pipe: Connection) -> None:
        with self._lock:
            self._pipes[pipe] = worker_id

    def take_all(self) -> dict[Connection, int]:
        """Every open pipe, now no longer read here (a successor publisher adds them)."""
        with self._lock:
            pipes, self._pipes = self._pipes, {}
        return pipes

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._pipes)

    def ready(self, timeout: float) -> list[Connection]:
        """The pipes with a message (or an end) waiting, after at most ``timeout`` s."""
        with self._lock:
            pipes = list(self._pipes)
        if not pipes:
            return []
        return [cast(Connection, ready) for ready in wait(pipes, timeout=timeout)]

    def read(self, pipe: Connection) -> WorkerMessage | None:
        """The next message on a ready pipe; None once it has ended (then it is forgotten)."""
        try:
            message = pipe.recv()
        except (EOFError, OSError):
            with self._lock:
                worker_id = self._pipes.pop(pipe, None)
            pipe.close()
            log.debug("worker %s closed its results pipe", worker_id)
            return None
        if isinstance(message, Result | WorkerReady | WorkerFailed):
            return message
        log.error("unexpected message on a results pipe: %r", message)
        return None
