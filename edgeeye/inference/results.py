"""What a model makes of one frame: the types a worker sends on, whatever the task."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: (class index, label, score), best first.
Label = tuple[int, str, float]

#: ``[x_min, y_min, x_max, y_max]`` in fractions (0-1) of the frame as captured.
Box = tuple[float, float, float, float]


class Task(Enum):
    """What a model does: one verdict for the frame, or objects with boxes."""

    CLASSIFY = "classify"
    DETECT = "detect"


@dataclass(frozen=True, slots=True)
class Detection:
    """One object a detector found."""

    index: int  # class index into the labels
    label: str
    score: float
    box: Box


@dataclass(frozen=True, slots=True)
class Inference:
    """A model's output for one frame.

    A classifier gives ``labels`` (its top-k) and no detections; a detector gives its
    ``detections``, best first, and as ``labels`` each label found with its best score.
    """

    labels: list[Label]
    detections: tuple[Detection, ...]
    inference_ms: float


def labels_of(detections: tuple[Detection, ...] | list[Detection]) -> list[Label]:
    """Each label among ``detections`` once, with its best score, best first."""
    best: dict[str, Label] = {}
    for found in detections:
        if found.label not in best or found.score > best[found.label][2]:
            best[found.label] = (found.index, found.label, found.score)
    return sorted(best.values(), key=lambda label: -label[2])
