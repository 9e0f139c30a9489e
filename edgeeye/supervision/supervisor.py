"""The main process: starts capture and workers, watches them, stops everything in time.

Shape borrowed from uvicorn's supervisors: signal handlers only record the signal
(``signals.capture_signals``); one loop, ``_loop``, wakes every 0.5 s or at once on a
signal and acts: on a stop or reload request, on the events the publisher thread passes
on (a worker loaded or failed, the broker refused us), on dead or hung workers and a
failed capture, and on ``--duration``.  While stopping, a guard thread is that loop: it
forces the exit on a second SIGINT or when the graceful stop overruns, and still removes
the shared memory and kills every child on the way out.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import threading
import time
from collections import Counter as Tally
from pathlib import Path
from typing import TYPE_CHECKING

from edgeeye.config.app import AppConfig
from edgeeye.errors import BrokerRefused, ChildProcessFailed, EdgeeyeError, ModelError, SourceError
from edgeeye.inference.model import ModelSpec
from edgeeye.mqtt.connection import BrokerRefusal
from edgeeye.mqtt.publisher import Publisher, PublisherEvent
from edgeeye.pipeline.messages import WorkerFailed
from edgeeye.pipeline.process_setup import release_free_memory
from edgeeye.pipeline.ring import Counter, FrameRing
from edgeeye.publish.stats import PipelineCounts
from edgeeye.sources.configured import make_source, source_names
from edgeeye.supervision.capture_keeper import CaptureKeeper
from edgeeye.supervision.child_server import child_context
from edgeeye.supervision.children import Child
from edgeeye.supervision.liveness import Liveness, Notifier
from edgeeye.supervision.outcome import RunEnd, RunOutcome
from edgeeye.supervision.pool import PoolWiring, WorkerPool
from edgeeye.supervision.reload import plan, prepare
from edgeeye.supervision.restarts import Backoff, RestartWindow
from edgeeye.supervision.signals import CapturedSignals, capture_signals

if TYPE_CHECKING:
    from edgeeye.pipeline.process_setup import LogQueue

log = logging.getLogger(__name__)

#: Budget for a graceful stop; systemd's TimeoutStopSec is set above it.
STOP_TIMEOUT_S = 10.0
#: How often the loop looks at its children when no signal wakes it: a death or a hang is
#: noticed within this, and each look is a wake-up of an idle appliance.
LOOP_INTERVAL_S = 1.0


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
        self._ctx = child_context()
        self._signals = CapturedSignals()
        self._events: queue.Queue[PublisherEvent] = queue.Queue()
        self._ring: FrameRing | None = None
        self._publisher: Publisher | None = None
        self._pool: WorkerPool | None = None  # made in run(), once the ring exists
        self._capture: CaptureKeeper | None = None  # made in run(), with the log queue
        self._failure: EdgeeyeError | None = None
        self._last_counts = PipelineCounts()
        self._restarts: Tally[str] = Tally()
        #: Why the appliance gave up, for the last stats message; None while it runs.
        self._fault: str | None = None
        self._liveness = Liveness(Notifier(), config.supervisor.progress_timeout_s)
        self._worker_restarts = RestartWindow(1, 1.0)
        self._apply_policy()  # restart limits and backoff, rebuilt the same way on reload
        self._config_rejected: str | None = None  # the last rejected edit, until a good one
        self._config_reloads = 0

    # -- running ---------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Entry of the main process's run (``edgeeye run``).

        Reads: the config (again on SIGHUP), the ring's counters, the events the publisher
        thread passes on, the children's exits.  Writes: the ring and snapshot board (made
        here, removed here on every exit path), the children, sd_notify.  Stops on SIGINT
        or SIGTERM, at ``duration``, when a finite source has been classified, or on a
        fault it cannot fix, which it raises after stopping everything within
        ``STOP_TIMEOUT_S``.
        """
        log_queue: LogQueue = self._ctx.Queue()
        listener = logging.handlers.QueueListener(
            log_queue, *logging.getLogger().handlers, respect_handler_level=True
        )
        listener.start()
        self._capture = CaptureKeeper(self._ctx, log_queue, self._capture_backoff())
        end = RunEnd.FAILURE
        try:
            with capture_signals(self._signals):
                try:
                    end = self._start_and_loop(log_queue)
                finally:
                    self._liveness.stopping(f"stopping: {end.value}")
                    self._shutdown()
        finally:
            self._liveness.notifier.close()
            listener.stop()
            log_queue.close()
        if self._failure is not None:
            raise self._failure
        return RunOutcome(
            end=end,
            frames_captured=self._last_counts.frames_captured,
            results_published=self._publisher.results_published if self._publisher else 0,
            stats=self._last_counts,
        )

    def _start_and_loop(self, log_queue: LogQueue) -> RunEnd:
        source = make_source(self.config.source, self._capture_size())
        ring = self._ring = FrameRing.create(
            self._ctx, self.config.slot_count, source.max_frame_bytes()
        )
        publisher = self._publisher = self._new_publisher()
        publisher.start()
        wiring = PoolWiring(
            events=self._events,
            on_event=self._on_startup_event,
            interrupted=lambda: self._signals.stop_requested,
            attach_results=lambda worker_id, pipe: self._current_publisher().add_worker(
                worker_id, pipe
            ),
            use_board=lambda board: self._current_publisher().use_board(board),
        )
        pool = self._pool = WorkerPool(self._ctx, log_queue, wiring, self.config, self.model, ring)
        # Capture first, so its source opens while the workers load their model; it reads
        # once they are ready, so no frame waits for a worker at the start.
        self._current_capture().start(ring, self.config, self._capture_size())
        for worker_id in range(self.config.worker_count):
            pool.start(worker_id)
        pool.wait_ready(set(pool.workers))
        if self._signals.stop_requested:
            return RunEnd.SIGNAL
        self._current_capture().begin()
        log.info(
            "running: %d workers, %d ring slots, model %s (%s), source %s",
            len(pool.workers),
            self.config.slot_count,
            self.model.name,
            self.model.task.value,
            self.config.source.type,
        )
        self._liveness.ready(self._status())
        release_free_memory()
        return self._loop()

    def _capture_size(self) -> tuple[int, int]:
        """(height, width) the source is opened for: the model's, or a camera's main size
        when workers crop the frame."""
        return self.config.capture_size(self.model.input_size)

    def _new_publisher(self) -> Publisher:
        return Publisher(
            self.config,
            self.model.name,
            self._counts,
            self._events,
            source_names(self.config),
            self.model.task,
        )

    def _on_startup_event(self, event: PublisherEvent) -> None:
        """While workers load: a worker's or the broker's failure ends the wait."""
        self._handle_event(event)
        if self._failure is not None:
            raise self._failure

    def _loop(self) -> RunEnd:
        """Wake every second (or at once on a signal) and decide whether to keep running."""
        started = time.monotonic()
        ring = self._current_ring()
        while True:
            self._signals.wake.wait(LOOP_INTERVAL_S)
            self._signals.wake.clear()
            if self._signals.stop_requested:
                log.info("received %s; stopping", self._signals.stops[0].name)
                return RunEnd.SIGNAL
            if self._signals.take_reload():
                self._reload()
                ring = self._current_ring()
            self._drain_events()
            if self._failure is not None:
                return RunEnd.FAILURE
            ended = self._check_capture() or self._check_workers()
            if ended is not None:
                return ended
            classified = int(ring.worker_frames.sum())
            waiting = self._current_capture().child is None
            broken = self._current_publisher().health_problem()
            self._liveness.update(classified, waiting, self._status(), broken)
            if self.duration is not None and time.monotonic() - started >= self.duration:
                return RunEnd.DURATION

    def _drain_events(self) -> None:
        while not self._events.empty():
            self._handle_event(self._events.get_nowait())

    def _check_capture(self) -> RunEnd | None:
        """Restart a failed capture after a growing delay; give up after too many in a row."""
        try:
            return self._current_capture().check(
                self._current_ring(), self.config, self._capture_size()
            )
        except (SourceError, ChildProcessFailed) as exc:
            self._fault, self._failure = str(exc), exc
            return RunEnd.FAILURE

    def _check_workers(self) -> RunEnd | None:
        """Replace dead and hung workers (their slots are recovered); give up if they keep dying."""
        pool = self._current_pool()
        pool.kill_hung(self.config.supervisor.invoke_deadline_s)
        pool.kill_stalled()
        dead = pool.reap()
        if not dead:
            return None
        time.sleep(0.2)  # let the publisher thread read the line a failing worker sent
        self._drain_events()
        if self._failure is not None:
            return RunEnd.FAILURE  # the model itself fails: a new worker would fail too
        for worker in dead:
            if not self._worker_restarts.allow():
                window = self._worker_restarts
                self._fault = (
                    f"worker {worker.worker_id} {worker.cause}; more than {window.limit}"
                    f" worker restarts in {window.window_s:.0f} s"
                )
                self._failure = ChildProcessFailed(self._fault)
                return RunEnd.FAILURE
            self._restarts["worker_hang" if worker.hung else "worker_exit"] += 1
            log.warning(
                "worker %d %s; replacing it (%d ring slot(s) recovered)",
                worker.worker_id,
                worker.cause,
                worker.slots_recovered,
            )
            pool.start(worker.worker_id)  # the publisher closes the old pipe at its EOF
        return None

    # -- reload (SIGHUP) ---------------------------------------------------------------

    def _reload(self) -> None:
        """Apply a valid edit, restarting only what it touches; keep running on a bad one."""
        ring, pool, capture = self._current_ring(), self._current_pool(), self._current_capture()
        try:
            config, model = prepare(self.config_path)
            change = plan(self.config, config, self.model, model, ring.handle.slot_bytes)
        except EdgeeyeError as exc:
            self._config_rejected = str(exc)
            log.error("config edit rejected, still running the previous config: %s", exc)
            return
        self._config_rejected = None
        self._config_reloads += 1
        self.config, self.model = config, model
        pool.reconfigure(config, model)
        logging.getLogger().setLevel(config.logging.level)
        self._apply_policy()
        log.info("config reloaded; restarting: %s", ", ".join(change.parts()) or "nothing")
        if change.publisher:
            self._swap_publisher()
        else:
            self._current_publisher().reconfigure(config, model.name, model.task)
        if change.ring or change.workers or change.capture:
            if change.ring or change.capture:
                capture.stop(2.0, for_good=False)
            if change.ring:
                pool.retire(sorted(pool.workers))
                self._ring = ring.recreate(self._ctx, self.config.slot_count, change.frame_bytes)
                pool.use_ring(self._ring)
            pool.roll()
            if capture.child is None:
                capture.start(
                    self._current_ring(),
                    self.config,
                    self._capture_size(),
                )

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
        new = self._new_publisher()
        self._current_publisher().hand_over(new)  # the snapshot board goes along
        self._publisher = new

    # -- state -------------------------------------------------------------------------

    def _current_ring(self) -> FrameRing:
        assert self._ring is not None, "the ring is made first in run()"
        return self._ring

    def _current_pool(self) -> WorkerPool:
        assert self._pool is not None, "the pool is made in run()"
        return self._pool

    def _current_capture(self) -> CaptureKeeper:
        assert self._capture is not None, "the capture keeper is made in run()"
        return self._capture

    def _current_publisher(self) -> Publisher:
        assert self._publisher is not None, "the publisher is made in run()"
        return self._publisher

    def _status(self) -> str:
        capture = self._current_capture()
        if capture.child is None:
            return f"waiting to restart capture ({capture.backoff.failures} failures)"
        return f"classifying with {len(self._current_pool().workers)} workers"

    def _children(self) -> list[Child]:
        children = list(self._pool.workers.values()) if self._pool else []
        if self._capture is not None and self._capture.child is not None:
            children.append(self._capture.child)
        return children

    def _counts(self) -> PipelineCounts:
        ring = self._ring
        if ring is None or ring.closed:
            return self._last_counts  # the ring is gone: the final figures
        workers = self.config.worker_count
        self._last_counts = PipelineCounts(
            frames_captured=int(ring.counters[Counter.FRAMES_CAPTURED]),
            frames_classified=int(ring.worker_frames.sum()),
            frames_dropped=int(ring.counters[Counter.FRAMES_DROPPED]),
            frames_skipped=int(ring.counters[Counter.FRAMES_SKIPPED]),
            frames_lost=int(ring.counters[Counter.FRAMES_LOST]),
            worker_frames=tuple(int(ring.worker_frames[i]) for i in range(workers)),
            workers=workers,
            ring_slots=ring.handle.slot_count,
            ring_slots_free=ring.free_slot_count(),
            restarts=dict(sorted(self._restart_counts().items())),
            healthy=self._liveness.healthy,
            fault=self._fault,
            config_reloads=self._config_reloads,
            config_rejected=self._config_rejected,
        )
        return self._last_counts

    def _restart_counts(self) -> Tally[str]:
        capture = self._capture.restarts if self._capture is not None else 0
        return self._restarts + Tally(capture=capture)  # a zero count is left out

    def _handle_event(self, event: PublisherEvent) -> None:
        if self._failure is not None:
            return
        if isinstance(event, WorkerFailed):
            self._failure = ModelError(event.line)
            log.error("worker %s: %s", event.worker_id, event.line)
        elif isinstance(event, BrokerRefusal):
            self._fault = event.line
            self._failure = BrokerRefused(event.line)

    # -- stopping ----------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Stop capture, let in-flight frames finish, flush, publish offline; all timed."""
        deadline = time.monotonic() + STOP_TIMEOUT_S - 1.0
        done = threading.Event()
        guard = threading.Thread(
            target=self._guard_stop,
            args=(done, time.monotonic() + STOP_TIMEOUT_S + 2.0),
            name="edgeeye.stop-guard",
            daemon=True,
        )
        guard.start()
        try:
            if self._capture is not None:
                self._capture.stop(min(2.0, deadline - time.monotonic()))
            if self._pool is not None:
                self._pool.stop_all(deadline - 3.0)
            if self._publisher is not None:
                self._publisher.stop(timeout=max(1.0, deadline - time.monotonic()))
            self._counts()
            for child in self._children():
                child.connection.close()
            self._release_shared_memory()
        finally:
            done.set()
            guard.join(1.0)

    def _guard_stop(self, done: threading.Event, hard_deadline: float) -> None:
        """The loop while stopping: a second Ctrl-C, or an overrun, forces the exit."""
        while not done.wait(0.05):
            if self._signals.force_exit:
                log.warning("second interrupt: exiting without draining")
                self._force_exit(130)
            if time.monotonic() > hard_deadline:
                log.error("graceful stop took longer than %.0f s; forcing exit", STOP_TIMEOUT_S + 2)
                self._force_exit(1)

    def _force_exit(self, status: int) -> None:
        """No draining, but no orphan and no leftover segment either."""
        for child in self._children():
            child.process.kill()
        self._release_shared_memory()
        os._exit(status)

    def _release_shared_memory(self) -> None:
        """Remove the ring and the snapshot boards from /dev/shm (safe more than once)."""
        if self._ring is not None:
            self._ring.close()
        if self._pool is not None:
            self._pool.close_boards()
