"""The inference processes as a group: start them, find the dead and the hung, retire, roll.

The pool does the mechanics; the supervisor keeps the policy (whether a restart is one too
many, what a failure means for the run).  A new worker is given the pool's current config,
model and ring; the supervisor changes them with ``reconfigure`` and ``use_ring``.  Each
worker's results pipe goes to ``attach_results`` (the publisher thread reads it).  The
pool also owns the snapshot board its workers write, sized for the model's input: a model
with a larger input gets a new one, announced through ``use_board``.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

from edgeeye.config.app import AppConfig
from edgeeye.errors import ChildProcessFailed
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.scene import SceneSpec
from edgeeye.mqtt.publisher import PublisherEvent
from edgeeye.pipeline.messages import WorkerReady
from edgeeye.pipeline.process_setup import worker_cpu
from edgeeye.pipeline.ring import Counter, FrameRing
from edgeeye.pipeline.snapshot_board import SnapshotBoard
from edgeeye.pipeline.worker import WorkerSpec, run_worker
from edgeeye.supervision.children import Child, exit_description, stop_process
from edgeeye.supervision.stall import StallWatch

if TYPE_CHECKING:
    from edgeeye.pipeline.process_setup import LogQueue

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DeadWorker:
    """A worker found dead, its slots already taken back from the ring."""

    worker_id: int
    cause: str
    hung: bool  # we killed it for overrunning its invoke deadline
    slots_recovered: int


@dataclass(frozen=True)
class PoolWiring:
    """How the pool reaches the rest of the main process; each is called on the main thread.

    ``events`` is the supervisor's queue (workers' ready and failure messages arrive there
    through the publisher thread); ``on_event`` handles one while the pool waits for
    workers to load and raises to abort the wait; ``interrupted`` says a stop signal came.
    """

    events: queue.Queue[PublisherEvent]
    on_event: Callable[[PublisherEvent], None]
    interrupted: Callable[[], bool]
    attach_results: Callable[[int, Connection], None]
    use_board: Callable[[SnapshotBoard], None]


class WorkerPool:
    """Worker processes by id, each with its own results pipe and its own retire event."""

    def __init__(
        self,
        ctx: ForkServerContext,
        log_queue: LogQueue,
        wiring: PoolWiring,
        config: AppConfig,
        model: ModelSpec,
        ring: FrameRing,
    ) -> None:
        self._ctx = ctx
        self._log_queue = log_queue
        self._wiring = wiring
        self.config = config
        self.model = model
        self.ring = ring
        self.stop = ctx.Event()  # all workers: finish the waiting frames, then exit
        self.workers: dict[int, Child] = {}
        self._retire: dict[int, Event] = {}  # worker id -> its own retire Event
        self._hung: dict[int, str] = {}  # worker id -> why we killed it
        self._stalls = StallWatch(config.supervisor.invoke_deadline_s)
        self._dropped_seen = 0
        self._frames_at_start: dict[int, int] = {}  # a worker id's frame count when it started
        self.board: SnapshotBoard | None = None
        # Boards a model change replaced: the publisher may still be reading one, so they
        # are unlinked now but unmapped only at ``close_boards``.
        self._old_boards: list[SnapshotBoard] = []

    def reconfigure(self, config: AppConfig, model: ModelSpec) -> None:
        """What workers started from now on run (``roll`` replaces the running ones)."""
        self.config, self.model = config, model
        self._stalls.deadline_s = config.supervisor.invoke_deadline_s

    def use_ring(self, ring: FrameRing) -> None:
        """The ring workers started from now on read; call with no worker running."""
        self.ring = ring

    def start(self, worker_id: int) -> None:
        reader, writer = self._ctx.Pipe(duplex=False)
        height, width = self.model.input_size
        if self.board is None or self.board.handle.slot_bytes < height * width * 3:
            if self.board is not None:
                self.board.unlink()
                self._old_boards.append(self.board)
            self.board = SnapshotBoard.create(height * width * 3)
            self._wiring.use_board(self.board)
        spec = WorkerSpec(
            worker_id=worker_id,
            ring=self.ring.handle,
            model=self.model,
            top_k=self.config.model.top_k,
            board=self.board.handle,
            results=writer,
            stop=self.stop,
            retire=self._retire.setdefault(worker_id, self._ctx.Event()),
            log_queue=self._log_queue,
            log_level=self.config.logging.level,
            check_stamps=getattr(self.config.source, "stamp", False),
            scene=SceneSpec.from_config(self.config, self.model),
            cpu=worker_cpu(worker_id),
        )
        process = self._ctx.Process(
            target=run_worker, args=(spec,), name=f"edgeeye.worker:{worker_id}"
        )
        process.start()
        writer.close()  # the worker holds the only write end: its exit ends our reads
        self._wiring.attach_results(worker_id, reader)
        self.workers[worker_id] = Child(process, reader)
        self._stalls.forget(worker_id)
        self._frames_at_start[worker_id] = int(self.ring.worker_frames[worker_id])

    def wait_ready(self, waiting: set[int]) -> None:
        """Wait until these workers have their model loaded (or an event says why not)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while waiting:
            if self._wiring.interrupted():
                return
            if time.monotonic() > deadline:
                raise ChildProcessFailed(
                    f"workers {sorted(waiting)} did not load the model in {READY_TIMEOUT_S:.0f} s"
                )
            try:
                event = self._wiring.events.get(timeout=0.5)
            except queue.Empty:
                self._check_alive(waiting)
                continue
            self._wiring.on_event(event)
            if isinstance(event, WorkerReady):
                waiting.discard(event.worker_id)

    def _check_alive(self, waiting: set[int]) -> None:
        """A worker that died before it was ready (a crash at import, say) fails the wait
        now rather than at the timeout; its line, if it sent one, was handled first."""
        for worker_id in sorted(waiting):
            process = self.workers[worker_id].process
            if not process.is_alive():
                # The publisher thread may still be passing on the line the worker sent
                # before exiting (a model that fails to load): that says more than the exit.
                with contextlib.suppress(queue.Empty):
                    while True:
                        self._wiring.on_event(self._wiring.events.get(timeout=1.0))
                raise ChildProcessFailed(
                    f"worker {worker_id} {exit_description(process.exitcode)}"
                    " before it had loaded the model"
                )

    def kill_hung(self, deadline_s: float) -> None:
        """Kill every worker that has been in one invoke for longer than ``deadline_s``."""
        deadline_ns = int(deadline_s * 1e9)
        now_ns = time.monotonic_ns()
        for worker_id, child in self.workers.items():
            busy_since = int(self.ring.worker_busy_since_ns[worker_id])
            if busy_since and now_ns - busy_since > deadline_ns and worker_id not in self._hung:
                self._hung[worker_id] = (
                    f"was stuck in one invoke for {(now_ns - busy_since) / 1e9:.1f} s"
                )
                child.process.kill()

    def kill_stalled(self) -> None:
        """Kill every worker that took no frame for the invoke deadline while frames waited
        (``supervision.stall``): replaced like a hung one."""
        ring = self.ring
        counts = {
            worker_id: (
                int(ring.worker_frames[worker_id]),
                bool(ring.worker_busy_since_ns[worker_id]),
            )
            for worker_id in self.workers
        }
        # Frames waited if one waits now, or if capture replaced waiting ones since the
        # last look (at a look itself the ring may be between frames).
        dropped = int(ring.counters[Counter.FRAMES_DROPPED])
        waited = ring.filled_slot_count() > 0 or dropped > self._dropped_seen
        self._dropped_seen = dropped
        stalled = self._stalls.look(time.monotonic(), waited, counts)
        for worker_id, seconds in stalled.items():
            if worker_id in self._hung:
                continue
            self._hung[worker_id] = f"took no frame for {seconds:.1f} s while frames waited"
            self.workers[worker_id].process.kill()

    def reap(self) -> list[DeadWorker]:
        """Forget the workers that have exited and take their ring slots back."""
        dead = []
        for worker_id, child in list(self.workers.items()):
            if child.process.is_alive():
                continue
            child.process.join(1.0)
            del self.workers[worker_id]
            hung = self._hung.pop(worker_id, None)
            self._stalls.forget(worker_id)
            dead.append(
                DeadWorker(
                    worker_id=worker_id,
                    cause=hung or exit_description(child.process.exitcode),
                    hung=hung is not None,
                    slots_recovered=self.ring.reclaim_worker(worker_id),
                )
            )
        return dead

    def retire(self, worker_ids: list[int]) -> None:
        """Stop these workers before their next frame (timed) and take their slots back."""
        children = {worker_id: self.workers.pop(worker_id) for worker_id in worker_ids}
        for worker_id in worker_ids:
            self._retire.pop(worker_id).set()
        # A wake reaches some waiting worker, not a chosen one; one that is not retiring
        # just looks again, and a retiring worker not woken sees its event within
        # IDLE_WAIT_S.
        self.ring.wake_workers(len(worker_ids))
        for worker_id, child in children.items():
            stop_process(child.process, self.config.supervisor.invoke_deadline_s + 2.0)
            self.ring.reclaim_worker(worker_id)

    def roll(self) -> None:
        """Replace workers one at a time, each after its successor has loaded the model, so
        the others keep classifying; start or retire workers for a new count."""
        target = self.config.worker_count
        for worker_id in sorted(self.workers):
            self.retire([worker_id])
            if worker_id < target:
                self.start(worker_id)
                self.wait_ready({worker_id})
        missing = set(range(target)) - set(self.workers)
        for worker_id in sorted(missing):
            self.start(worker_id)
        self.wait_ready(missing)

    def stop_all(self, deadline: float) -> None:
        """Let every worker finish its waiting frames until ``deadline`` (monotonic), then kill."""
        self.stop.set()
        self.ring.wake_workers(len(self.workers))
        for worker_id, child in self.workers.items():
            stop_process(child.process, deadline - time.monotonic())
            self.ring.reclaim_worker(worker_id)

    def kill_all(self) -> None:
        for child in self.workers.values():
            child.process.kill()

    def close_boards(self) -> None:
        """Unmap and remove every snapshot board; call once no worker runs."""
        for board in [*self._old_boards, self.board]:
            if board is not None:
                board.close()
        self._old_boards, self.board = [], None
