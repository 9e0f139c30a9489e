"""What a worker runs on each frame, whatever the task or the backend.

A worker asks ``open_model`` for its model and calls ``classify`` on each frame's model
input; it never names a task or a backend.  A second task (object detection) or another
backend (an accelerator's delegate) is a module beside ``classifier`` that ``open_model``
chooses from the ``ModelSpec``, without a change to the pipeline.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgeeye.inference.classifier import Classifier
from edgeeye.inference.model import ModelSpec

#: (class index, label, score), best first.
Label = tuple[int, str, float]


class FrameModel(Protocol):
    """A loaded model, one per worker process."""

    def classify(self, rgb: np.ndarray, top_k: int, min_score: float) -> tuple[list[Label], float]:
        """The ``top_k`` labels scoring at least ``min_score``, and the invoke time in ms."""
        ...


def open_model(spec: ModelSpec) -> FrameModel:
    """Load the model a spec describes; raises ``ModelError`` naming the model file."""
    return Classifier(spec)
