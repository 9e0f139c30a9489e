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
    #: The configured regions its box stands in (its bottom centre lies inside).
    regions: tuple[str, ...] = ()
    #: ``classify_detections``: the second model's top label for the box's crop.
    sub_label: Label | None = None


@dataclass(frozen=True, slots=True)
class RegionLabels:
    """A classifier's top labels for one region's crop."""

    name: str
    labels: list[Label]


@dataclass(frozen=True, slots=True)
class Inference:
    """A model's output for one frame.

    A classifier gives ``labels`` (its top-k) and no detections, or with regions each
    region's labels and, as ``labels``, each label of any region with its best score; a
    detector gives its ``detections``, best first, and as ``labels`` each label found
    with its best score.  ``inference_ms`` is the time of every invoke it took.
    """

    labels: list[Label]
    detections: tuple[Detection, ...]
    inference_ms: float
    regions: tuple[RegionLabels, ...] = ()


def labels_of(detections: tuple[Detection, ...] | list[Detection]) -> list[Label]:
    """Each label among ``detections`` once, with its best score, best first."""
    return merged([[(found.index, found.label, found.score) for found in detections]])


def merged(labels: list[list[Label]]) -> list[Label]:
    """Each label of any of these lists once, with its best score, best first."""
    best: dict[str, Label] = {}
    for group in labels:
        for label in group:
            if label[1] not in best or label[2] > best[label[1]][2]:
                best[label[1]] = label
    return sorted(best.values(), key=lambda label: -label[2])
