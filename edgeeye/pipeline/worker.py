"""An inference process: frames from the ring in, classification results out."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from edgeeye.errors import ModelError
from edgeeye.inference.model import Classifier, ModelSpec
from edgeeye.inference.preprocess import to_model_rgb
from edgeeye.pipeline.frames import frame_view, read_stamps
from edgeeye.pipeline.process_setup import pre_run_setup
from edgeeye.pipeline.ring import FrameRing, RingHandle
from edgeeye.publish.snapshots import BoardHandle, SnapshotBoard

log = logging.getLogger(__name__)

#: Exit status of a worker whose model fails to load or to run.
EXIT_MODEL_FAILED = 3


@dataclass(frozen=True)
class WorkerSpec:
    worker_id: int
    ring: RingHandle
    model: ModelSpec
    top_k: int
    board: BoardHandle  # where frames wait for a possible snapshot (while those are on)
    results: Any  # Connection this worker alone writes: ("ready",), ("result", ...), ("error", msg)
    stop: Any  # multiprocessing.Event: finish the waiting frames, then exit
    retire: Any  # multiprocessing.Event, this worker's own: exit before the next frame
    log_queue: Any
    log_level: str
    check_stamps: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    """One classified frame, as sent from a worker to the publisher."""

    sequence: int
    capture_ts_ns: int
    tag: int
    labels: list[tuple[int, str, float]]
    inference_ms: float
    worker_id: int
    #: The sequence stamped in the frame's pixels if both stamps agreed before and after
    #: reading it, else -1; None when the source does not stamp.
    frame_stamp: int | None = None


def run_worker(spec: WorkerSpec) -> None:
    """Entry of an ``edgeeye.worker:N`` process.

    Reads: frame descriptors from the ring's pipe and the frames themselves from shared
    memory (a numpy view, no copy until the resize).  Writes: ``Result`` messages on its
    own ``results`` pipe, which only this process writes, so killing it cannot wedge another,
    and, while snapshots are on, each model-size frame to the snapshot board.  Every label
    goes out (``min_score`` and the label filters are the publisher's, changeable live).
    Stops when ``spec.stop`` is set and no frame is waiting; exits with
    ``EXIT_MODEL_FAILED`` after sending ("error", line) if the model fails.
    """
    name = f"edgeeye.worker:{spec.worker_id}"
    pre_run_setup(name, f"edgeeye-w{spec.worker_id}", spec.log_queue, spec.log_level)
    ring = FrameRing.attach(spec.ring)
    board = SnapshotBoard.attach(spec.board)
    try:
        classifier = Classifier(spec.model)
        spec.results.send(("ready", spec.worker_id))
        _work(ring, board, classifier, spec)
    except ModelError as exc:
        spec.results.send(("error", str(exc)))
        raise SystemExit(EXIT_MODEL_FAILED) from None
    finally:
        board.close()
        ring.close()


def _freeze_requested(worker_id: int) -> bool:
    """Test-only hook (``tests/faults``): should this worker hang in its first invoke?

    ``EDGEEYE_TEST_FREEZE`` is worker ids ("0,1") or "all", optionally followed by
    ":<file>": then only the first worker to create that file freezes, so its replacement
    works.  It stands in for a wedged delegate or a model that never returns.
    """
    value = os.environ.get("EDGEEYE_TEST_FREEZE", "")
    which, _, marker = value.partition(":")
    if not which or (which != "all" and str(worker_id) not in which.split(",")):
        return False
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
    return True


def _work(ring: FrameRing, board: SnapshotBoard, classifier: Classifier, spec: WorkerSpec) -> None:
    size = spec.model.input_size
    worker_id = spec.worker_id
    freeze = _freeze_requested(worker_id)
    while not spec.retire.is_set():
        descriptor = ring.take(worker_id, timeout=0.2)
        if descriptor is None:
            if spec.stop.is_set():
                return
            continue
        frame = frame_view(ring.slot(descriptor.slot_index), descriptor)
        stamp = None
        if spec.check_stamps:
            stamps_before = read_stamps(frame)
        rgb = to_model_rgb(
            frame, descriptor.pixel_format, descriptor.height, descriptor.width, size
        )
        if spec.check_stamps:
            stamps = {*stamps_before, *read_stamps(frame)}
            stamp = stamps.pop() if len(stamps) == 1 else -1
        del frame
        # The resized copy is all inference needs: give the slot back before invoking.
        ring.release(descriptor.slot_index)
        board.put(descriptor.sequence, rgb)
        ring.worker_busy_since_ns[worker_id] = time.monotonic_ns()
        while freeze:
            time.sleep(3600)
        labels, inference_ms = classifier.classify(rgb, spec.top_k, 0.0)
        ring.worker_busy_since_ns[worker_id] = 0
        ring.worker_frames[worker_id] += 1
        spec.results.send(
            (
                "result",
                Result(
                    sequence=descriptor.sequence,
                    capture_ts_ns=descriptor.capture_ts_ns,
                    tag=descriptor.tag,
                    labels=labels,
                    inference_ms=inference_ms,
                    worker_id=worker_id,
                    frame_stamp=stamp,
                ),
            )
        )
