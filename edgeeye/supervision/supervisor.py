"""The main process: starts capture and workers, watches them, stops everything in time.

Shape borrowed from uvicorn's supervisors: signal handlers only record the signal; one loop
(``while not self._wake.wait(0.5)``) acts on signals and on children.  A second SIGINT
skips the graceful path but still removes the shared memory.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeeye.config.app import AppConfig
from edgeeye.config.reload import plan, prepare
from edgeeye.errors import (
    BrokerRefused,
    ChildProcessFailed,
    EdgeeyeError,
    ModelError,
    SourceError,
)
from edgeeye.inference.model import ModelSpec
from edgeeye.mqtt.publisher import Publisher
from edgeeye.pipeline.capture import make_source, source_names
from edgeeye.pipeline.ring import Counter, FrameRing
from edgeeye.supervision.capture_keeper import CaptureKeeper
from edgeeye.supervision.children import Child
from edgeeye.supervision.liveness import Liveness, Notifier
from edgeeye.supervision.pool import WorkerPool
from edgeeye.supervision.restarts import Backoff, RestartWindow

log = logging.getLogger(__name__)

#: Budget for a graceful stop; systemd's TimeoutStopSec is set above it.
STOP_TIMEOUT_S = 10.0


@dataclass
class RunOutcome:
    """How a run ended, for the CLI."""

    reason: str
    frames_captured: int = 0
    results_published: int = 0
    stats: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    """Runs the appliance for one configuration until a signal, ``duration`` or the source ends."""

    def __init__(
        self,
        config: AppConfig,
        model: ModelSpec,
        duration: float | None = None,
        config_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path  # re-read on SIGHUP
        self.model = model
        self.duration = duration
        self._ctx = multiprocessing.get_context("spawn")
        self._wake = threading.Event()
        self._signals: list[int] = []
        self._ring: FrameRing | None = None
        self._publisher: Publisher | None = None
        self._pool: WorkerPool | None = None  # made in run(), with the log queue
        self._capture: CaptureKeeper | None = None  # made in run(), with the log queue
        self._failure: EdgeeyeError | None = None
        self._last_counts: dict[str, Any] = {}
        self._restarts: Tally[str] = Tally()
        #: Why the appliance gave up, for the last stats message; None while it runs.
        self._fault: str | None = None
        self._liveness = Liveness(Notifier(), config.supervisor.progress_timeout_s)
        self._apply_policy()  # restart limits and backoff, rebuilt the same way on reload
        self._reload_requested = False
        self._config_rejected: str | None = None  # the last rejected edit, until a good one
        self._config_reloads = 0

    # -- signals -----------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
            self._wake.set()
            return
        if signum == signal.SIGINT and signal.SIGINT in self._signals:
            self._force_exit()
        self._signals.append(signum)
        self._wake.set()

    def _force_exit(self) -> None:
        """Second Ctrl-C: no draining, but no orphan and no leftover segment either."""
        for child in self._children():
            child.process.kill()
        self._release_shared_memory()
        os._exit(130)

    # -- running ---------------------------------------------------------------------

    def run(self) -> RunOutcome:
        log_queue = self._ctx.Queue()
        listener = logging.handlers.QueueListener(
            log_queue, *logging.getLogger().handlers, respect_handler_level=True
        )
        listener.start()
        previous = {
            sig: signal.signal(sig, self._on_signal)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        self._capture = CaptureKeeper(self._ctx, log_queue, self._capture_backoff())
        pool = self._pool = WorkerPool(
            self._ctx, log_queue, self._on_startup_event, lambda: bool(self._signals)
        )
        pool.config, pool.model = self.config, self.model
        publisher: Publisher | None = None
        reason = "error"
        try:
            source = make_source(self.config.source, self.model.input_size)
            self._ring = pool.ring = FrameRing.create(
                self._ctx, self.config.slot_count, source.max_frame_bytes()
            )
            publisher = Publisher(
                self.config, self.model.name, self._counts, source_names(self.config)
            )
            publisher.start()
            self._publisher = pool.publisher = publisher
            for worker_id in range(self.config.worker_count):
                pool.start(worker_id)
            pool.wait_ready(set(pool.workers))
            self._capture.start(self._ring, self.config, self.model.input_size)
            log.info(
                "running: %d workers, %d ring slots, model %s, source %s",
                len(pool.workers),
                self.config.slot_count,
                self.model.name,
                self.config.source.type,
            )
            self._liveness.ready(self._status())
            reason = self._loop()
        finally:
            self._liveness.stopping(f"stopping: {reason}")
            self._shutdown(self._publisher)
            self._liveness.notifier.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            listener.stop()
            log_queue.close()
        if self._failure is not None:
            raise self._failure
        return RunOutcome(
            reason=reason,
            frames_captured=int(self._last_counts.get("frames_captured", 0)),
            results_published=self._publisher.results_published if self._publisher else 0,
            stats=self._last_counts,
        )

    def _on_startup_event(self, event: tuple[Any, ...]) -> None:
        """While workers load: a worker's or the broker's failure ends the wait."""
        self._handle_event(event)
        if self._failure is not None:
            raise self._failure

    def _loop(self) -> str:
        """Wake every 0.5 s (or at once on a signal) and decide whether to keep running."""
        started = time.monotonic()
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            if self._signals:
                log.info("received %s; stopping", signal.Signals(self._signals[0]).name)
                return "signal"
            if self._reload_requested:
                self._reload_requested = False
                self._reload()
            self._drain_events(self._publisher)
            if self._failure is not None:
                return "failure"
            ended = self._check_capture() or self._check_workers()
            if ended is not None:
                return ended
            classified = int(self._ring.worker_frames.sum())
            self._liveness.update(classified, self._capture.child is None, self._status())
            if self.duration is not None and time.monotonic() - started >= self.duration:
                return "duration"

    def _drain_events(self, publisher: Publisher) -> None:
        while not publisher.events.empty():
            self._handle_event(publisher.events.get_nowait())

    def _check_capture(self) -> str | None:
        """Restart a failed capture after a growing delay; give up after too many in a row."""
        try:
            return self._capture.check(self._ring, self.config, self.model.input_size)
        except (SourceError, ChildProcessFailed) as exc:
            self._fault, self._failure = str(exc), exc
            return "failure"

    def _check_workers(self) -> str | None:
        """Replace dead and hung workers (their slots are recovered); give up if they keep dying."""
        self._pool.kill_hung(self.config.supervisor.invoke_deadline_s)
        dead = self._pool.reap()
        if not dead:
            return None
        time.sleep(0.2)  # let the publisher thread read the line a failing worker sent
        self._drain_events(self._publisher)
        if self._failure is not None:
            return "failure"  # the model itself fails: a new worker would fail too
        for worker in dead:
            if not self._worker_restarts.allow():
                window = self._worker_restarts
                self._fault = (
                    f"worker {worker.worker_id} {worker.cause}; more than {window.limit}"
                    f" worker restarts in {window.window_s:.0f} s"
                )
                self._failure = ChildProcessFailed(self._fault)
                return "failure"
            self._restarts["worker_hang" if worker.hung else "worker_exit"] += 1
            log.warning(
                "worker %d %s; replacing it (%d ring slot(s) recovered)",
                worker.worker_id,
                worker.cause,
                worker.slots_recovered,
            )
            self._pool.start(worker.worker_id)  # the publisher closes the old pipe at its EOF
        return None

    # -- reload (SIGHUP) ---------------------------------------------------------------

    def _reload(self) -> None:
        """Apply a valid edit, restarting only what it touches; keep running on a bad one."""
        try:
            config, model = prepare(self.config_path)
            change = plan(self.config, config, self.model, model, self._ring.handle.slot_bytes)
        except EdgeeyeError as exc:
            self._config_rejected = str(exc)
            log.error("config edit rejected, still running the previous config: %s", exc)
            return
        self._config_rejected = None
        self._config_reloads += 1
        self.config, self.model = config, model
        self._pool.config, self._pool.model = config, model
        logging.getLogger().setLevel(config.logging.level)
        self._apply_policy()
        parts = [
            name for name in ("ring", "publisher", "workers", "capture") if getattr(change, name)
        ]
        log.info("config reloaded; restarting: %s", ", ".join(parts) or "nothing")
        if change.publisher:
            self._swap_publisher()
        else:
            self._publisher.reconfigure(config)
        self._publisher.model_name = model.name
        if change.ring or change.workers or change.capture:
            if change.ring or change.capture:
                self._capture.stop(2.0, for_good=False)
            if change.ring:
                self._pool.retire(sorted(self._pool.workers))
                source = make_source(self.config.source, self.model.input_size)
                self._ring = self._pool.ring = self._ring.recreate(
                    self._ctx, self.config.slot_count, source.max_frame_bytes()
                )
            self._pool.roll()
            if self._capture.child is None:
                self._capture.start(self._ring, self.config, self.model.input_size)

    def _apply_policy(self) -> None:
        policy = self.config.supervisor
        self._worker_restarts = RestartWindow(policy.worker_restarts, policy.restart_window_s)
        if self._capture is not None:
            self._capture.backoff = self._capture_backoff()
        self._liveness.progress_timeout_s = policy.progress_timeout_s

    def _capture_backoff(self) -> Backoff:
        policy = self.config.supervisor
        return Backoff(policy.source_backoff_s, policy.source_backoff_max_s, policy.source_retries)

    def _swap_publisher(self) -> None:
        """A new MQTT client (and outbox) for new broker settings; no result is dropped."""
        new = Publisher(self.config, self.model.name, self._counts, source_names(self.config))
        self._publisher.hand_over(new)  # the snapshot board goes along
        self._publisher = self._pool.publisher = new

    def _status(self) -> str:
        if self._capture.child is None:
            return f"waiting to restart capture ({self._capture.backoff.failures} failures)"
        return f"classifying with {len(self._pool.workers)} workers"

    def _children(self) -> list[Child]:
        children = list(self._pool.workers.values()) if self._pool else []
        if self._capture is not None and self._capture.child is not None:
            children.append(self._capture.child)
        return children

    def _counts(self) -> dict[str, Any]:
        ring = self._ring
        if ring is None or ring.counters is None:
            return dict(self._last_counts)  # the ring is gone: the final figures
        per_worker = [int(ring.worker_frames[i]) for i in range(self.config.worker_count)]
        counts = {
            "frames_captured": int(ring.counters[Counter.FRAMES_CAPTURED]),
            "frames_classified": int(ring.worker_frames.sum()),
            "frames_dropped": int(ring.counters[Counter.FRAMES_DROPPED]),
            "frames_skipped": int(ring.counters[Counter.FRAMES_SKIPPED]),
            "worker_frames": per_worker,
            "workers": self.config.worker_count,
            "ring_slots": ring.handle.slot_count,
            "ring_slots_free": ring.free_slot_count(),
            "restarts": dict(sorted(self._restart_counts().items())),
            "healthy": self._liveness.healthy,
            "fault": self._fault,
            "config_reloads": self._config_reloads,
            "config_rejected": self._config_rejected,
        }
        self._last_counts = counts
        return dict(counts)

    def _restart_counts(self) -> Tally[str]:
        capture = self._capture.restarts if self._capture is not None else 0
        return self._restarts + Tally(capture=capture)  # a zero count is left out

    def _handle_event(self, event: tuple[Any, ...]) -> None:
        if self._failure is not None:
            return
        if event[0] == "error":
            self._failure = ModelError(event[2])
            log.error("worker %s: %s", event[1], event[2])
        elif event[0] == "refused":
            self._fault = event[1]
            self._failure = BrokerRefused(event[1])

    def _shutdown(self, publisher: Publisher | None) -> None:
        """Stop capture, let in-flight frames finish, flush, publish offline; all timed."""
        deadline = time.monotonic() + STOP_TIMEOUT_S - 1.0
        # Every step below is timed; this is the backstop should one of them still hang.
        backstop = threading.Timer(STOP_TIMEOUT_S + 2.0, self._stop_timed_out)
        backstop.daemon = True
        backstop.start()
        if self._capture is not None:
            self._capture.stop(min(2.0, deadline - time.monotonic()))
        self._pool.stop_all(deadline - 3.0)
        if publisher is not None:
            publisher.stop(timeout=max(1.0, deadline - time.monotonic()))
        self._counts()
        for child in self._children():
            child.connection.close()
        self._release_shared_memory()
        backstop.cancel()

    def _release_shared_memory(self) -> None:
        """Remove the ring and the snapshot boards from /dev/shm (safe more than once)."""
        if self._ring is not None:
            self._ring.close()
        if self._pool is not None:
            self._pool.close_boards()

    def _stop_timed_out(self) -> None:
        log.error("graceful stop took longer than %.0f s; forcing exit", STOP_TIMEOUT_S + 2.0)
        for child in self._children():
            child.process.kill()
        self._release_shared_memory()
        os._exit(1)
