"""What a worker sends on its results pipe: frozen messages, matched by type, never by index.

A worker says ``WorkerReady`` once its model is loaded, then one ``Result`` per frame; a
model that fails says ``WorkerFailed`` before the worker exits.  The publisher thread
reads the pipes (``mqtt.publisher``) and passes the first and last kinds on to the
supervisor.  These are the only types the MQTT side takes from the pipeline's processes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from edgeeye.inference.results import Detection, Label, RegionLabels, Task


@dataclass(frozen=True, slots=True)
class Result:
    """One frame's inference, as sent from a worker to the publisher.

    A detector's result has its ``detections`` and, as ``labels``, each label among them
    with its best score (``inference.results.Inference``)."""

    sequence: int
    capture_ts_ns: int
    tag: int
    labels: list[Label]
    inference_ms: float
    worker_id: int
    #: The sequence stamped in the frame's pixels if both stamps agreed before and after
    #: reading it, else -1; None when the source does not stamp.
    frame_stamp: int | None = None
    task: Task = Task.CLASSIFY
    detections: tuple[Detection, ...] = ()
    #: A classifier with regions: each region's labels (a detector's are its detections').
    regions: tuple[RegionLabels, ...] = ()

    def __reduce__(self) -> tuple[type[Result], tuple[Any, ...]]:
        # One per frame through a pipe: pickled as the constructor's arguments, taken in
        # one C call, rather than by dataclasses' frozen-state methods, which look the
        # fields up in Python on both sides of the pipe.
        return Result, _result_fields(self)


_result_fields = attrgetter(*(field.name for field in fields(Result)))


@dataclass(frozen=True, slots=True)
class WorkerReady:
    """The worker has loaded its model and takes frames from now on."""

    worker_id: int


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """The model failed to load or to run; ``line`` says why, naming the model file."""

    worker_id: int
    line: str


WorkerMessage = Result | WorkerReady | WorkerFailed
