"""The main process's side of the capture process: start it, watch it, restart it, stop it.

``pipeline.capture.run_capture`` is the child; this keeps one running for the supervisor,
as ``pool.py`` keeps the workers.  A capture that fails is started again after a delay that
doubles up to a cap (``restarts.Backoff``); one that delivered frames resets the count;
after too many failures in a row ``check`` raises, and the supervisor stops the appliance.
"""

from __future__ import annotations

import contextlib
import logging
import time
from multiprocessing.context import ForkServerContext
from typing import TYPE_CHECKING

from edgeeye.config.app import AppConfig
from edgeeye.errors import ChildProcessFailed, SourceError
from edgeeye.pipeline.capture import EXIT_SOURCE_FAILED, CaptureSpec, run_capture
from edgeeye.pipeline.ring import Counter, FrameRing
from edgeeye.sources.configured import source_settings
from edgeeye.supervision.children import Child, exit_description, stop_process
from edgeeye.supervision.outcome import RunEnd
from edgeeye.supervision.restarts import Backoff

if TYPE_CHECKING:
    from edgeeye.pipeline.process_setup import LogQueue

log = logging.getLogger(__name__)


class CaptureKeeper:
    """One capture process at a time; ``child`` is None while a restart is waiting."""

    def __init__(self, ctx: ForkServerContext, log_queue: LogQueue, backoff: Backoff) -> None:
        self._ctx = ctx
        self._log_queue = log_queue
        self.backoff = backoff
        self.stop_event = ctx.Event()
        #: Set once, when the first workers are ready; every later capture reads at once.
        self.begin_event = ctx.Event()
        self.child: Child | None = None
        self.restarts = 0
        self._restart_at = 0.0
        self._first_frame = 0  # frames_captured when the current capture started

    def start(self, ring: FrameRing, config: AppConfig, model_size: tuple[int, int]) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        # Sequence numbers go on where the last capture stopped: results stay unique.
        self._first_frame = int(ring.counters[Counter.FRAMES_CAPTURED])
        spec = CaptureSpec(
            ring=ring.handle,
            source=source_settings(config.source),
            model_size=model_size,
            stop=self.stop_event,
            begin=self.begin_event,
            errors=writer,
            log_queue=self._log_queue,
            log_level=config.logging.level,
            first_sequence=self._first_frame,
        )
        process = self._ctx.Process(target=run_capture, args=(spec,), name="edgeeye.capture")
        process.start()
        writer.close()
        self.child = Child(process, reader)

    def begin(self) -> None:
        """Let capture read frames (the workers are ready for them)."""
        self.begin_event.set()

    def check(
        self, ring: FrameRing, config: AppConfig, model_size: tuple[int, int]
    ) -> RunEnd | None:
        """``RunEnd.SOURCE_FINISHED`` when the source has no more frames, else None.

        A failed capture is started again once its delay has passed; raises ``SourceError``
        (the source itself failed) or ``ChildProcessFailed`` when retries are spent.
        """
        if self.child is None:
            if time.monotonic() >= self._restart_at:
                log.info("restarting capture (attempt %d)", self.backoff.failures + 1)
                self.start(ring, config, model_size)
            return None
        process = self.child.process
        if process.is_alive():
            if ring.counters[Counter.FRAMES_CAPTURED] > self._first_frame:
                self.backoff.succeeded()  # it delivered: the next failure is a new one
            return None
        process.join(1.0)
        ring.reclaim_writer()
        if process.exitcode == 0 and ring.counters[Counter.SOURCE_DONE]:
            log.info("the source has no more frames; finishing the ones in flight")
            return RunEnd.SOURCE_FINISHED
        line = None
        # A capture killed outright sent no line: its end of the pipe is just closed.
        with contextlib.suppress(EOFError, OSError):
            line = self.child.connection.recv() if self.child.connection.poll() else None
        self.child.connection.close()
        self.child = None
        cause = line or f"capture process {exit_description(process.exitcode)}"
        delay = self.backoff.failed()
        if delay is None:
            fault = f"{cause} ({self.backoff.failures} failures in a row)"
            if process.exitcode == EXIT_SOURCE_FAILED:
                raise SourceError(fault)
            raise ChildProcessFailed(fault)
        self.restarts += 1
        log.warning("%s; retrying in %.0f s", cause, delay)
        self._restart_at = time.monotonic() + delay
        return None

    def stop(self, timeout: float, *, for_good: bool = True) -> None:
        """Ask capture to stop and wait at most ``timeout`` s (then kill it).

        ``for_good=False`` (a reload) clears the request so the next capture can run."""
        self.stop_event.set()
        if self.child is not None:
            stop_process(self.child.process, timeout)
            if not for_good:
                self.child.connection.close()
                self.child = None
        if not for_good:
            self.stop_event.clear()
