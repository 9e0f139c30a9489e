"""An inference process: frames from the ring in, results (labels, detections) out."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

from edgeeye.errors import ModelError
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.results import Inference
from edgeeye.inference.scene import FrameView, SceneRunner, SceneSpec
from edgeeye.pipeline.messages import Result, WorkerFailed, WorkerReady
from edgeeye.pipeline.process_setup import pin_to_cpu, pre_run_setup, release_free_memory

if TYPE_CHECKING:
    from edgeeye.pipeline.process_setup import LogQueue
from edgeeye.pipeline.ring import FrameRing, RingHandle
from edgeeye.pipeline.snapshot_board import BoardHandle, SnapshotBoard
from edgeeye.sources.frame import read_stamps

log = logging.getLogger(__name__)

#: With no frame waiting, a worker looks at its retire event this often; a stop wakes it at
#: once (``FrameRing.wake_workers``).  Each look is a wake-up of an idle appliance.
IDLE_WAIT_S = 2.0
#: Once stopping, a worker exits when no frame has waited for this long.
DRAIN_WAIT_S = 0.2

#: Exit status of a worker whose model fails to load or to run.
EXIT_MODEL_FAILED = 3


@dataclass(frozen=True)
class WorkerSpec:
    worker_id: int
    ring: RingHandle
    model: ModelSpec
    top_k: int
    board: BoardHandle  # where frames wait for a possible snapshot (while those are on)
    results: Connection  # this worker alone writes it: WorkerReady, Result..., WorkerFailed
    stop: Event  # all workers: finish the waiting frames, then exit
    retire: Event  # this worker's own: exit before the next frame
    log_queue: LogQueue
    log_level: str
    scene: SceneSpec  # regions, and the boxes a second model classifies
    check_stamps: bool = False
    cpu: int | None = None  # the core this worker keeps to (None: wherever the kernel puts it)
    #: The appliance's main process (children are forked by the child server, not by it).
    main_pid: int = field(default_factory=os.getpid)


def run_worker(spec: WorkerSpec) -> None:
    """Entry of an ``edgeeye.worker:N`` process.

    Reads: frame descriptors from the ring's pipe and the frames themselves from shared
    memory (a numpy view, no copy until the resize).  Writes: ``WorkerReady`` once the model
    is loaded, then a ``Result`` per frame (its labels, and a detector's detections) on its
    own ``results`` pipe, which only this process writes, so killing it cannot wedge
    another; and, while snapshots are on, each model-size frame to the snapshot board.
    Every label and detection goes out (``min_score`` and the label filters are the
    publisher's, changeable live).  Stops when ``spec.retire`` is set, or when
    ``spec.stop`` is set and no frame is waiting; exits with ``EXIT_MODEL_FAILED`` after
    sending ``WorkerFailed`` if the model fails.
    """
    name = f"edgeeye.worker:{spec.worker_id}"
    pre_run_setup(name, f"edgeeye-w{spec.worker_id}", spec.log_queue, spec.log_level, spec.main_pid)
    pin_to_cpu(spec.cpu)
    ring = FrameRing.attach(spec.ring)
    board = SnapshotBoard.attach(spec.board)
    try:
        runner = SceneRunner(spec.model, spec.scene)
        release_free_memory()
        spec.results.send(WorkerReady(spec.worker_id))
        _work(ring, board, runner, spec)
    except ModelError as exc:
        spec.results.send(WorkerFailed(spec.worker_id, str(exc)))
        raise SystemExit(EXIT_MODEL_FAILED) from None
    finally:
        board.close()
        ring.close()


def _work(ring: FrameRing, board: SnapshotBoard, runner: SceneRunner, spec: WorkerSpec) -> None:
    worker_id = spec.worker_id
    while not spec.retire.is_set():
        stopping = spec.stop.is_set()
        descriptor = ring.take(worker_id, timeout=DRAIN_WAIT_S if stopping else IDLE_WAIT_S)
        if descriptor is None:
            if stopping:
                return
            continue
        if descriptor.is_wake:
            continue  # the supervisor's: look at stop and retire now
        stamp = None
        inference: Inference | None = None
        # The model inputs are copies: the slot goes back before invoking, unless boxes
        # are to be cropped from the frame after the detector has run.
        with ring.reading(descriptor) as frame:
            if spec.check_stamps:
                stamps_before = read_stamps(frame)
            view = FrameView(frame, descriptor.pixel_format, descriptor.height, descriptor.width)
            prepared = runner.prepare(view, whole_wanted=board.enabled)
            if spec.check_stamps:
                stamps = {*stamps_before, *read_stamps(frame)}
                stamp = stamps.pop() if len(stamps) == 1 else -1
            if runner.needs_frame_after_invoke:
                ring.worker_busy_since_ns[worker_id] = time.monotonic_ns()
                inference = runner.infer(prepared, spec.top_k, view)
        if prepared.whole is not None:
            board.put(descriptor.sequence, prepared.whole)
        if inference is None:
            ring.worker_busy_since_ns[worker_id] = time.monotonic_ns()
            inference = runner.infer(prepared, spec.top_k, None)
        ring.worker_busy_since_ns[worker_id] = 0
        ring.worker_frames[worker_id] += 1
        spec.results.send(
            Result(
                sequence=descriptor.sequence,
                capture_ts_ns=descriptor.capture_ts_ns,
                tag=descriptor.tag,
                labels=inference.labels,
                inference_ms=inference.inference_ms,
                worker_id=worker_id,
                frame_stamp=stamp,
                task=spec.model.task,
                detections=inference.detections,
                regions=inference.regions,
            )
        )
        ring.finished(worker_id)
