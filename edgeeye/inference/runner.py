"""What a worker runs on each frame, whatever the task or the backend.

A worker asks ``open_model`` for its model and calls ``infer`` on each frame's model
input; it never names a task or a backend.  The task (``classifier`` or ``detector``) is
chosen from the ``ModelSpec``; another backend (an accelerator's delegate) would be a
module beside them, chosen the same way, without a change to the pipeline.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgeeye.inference.classifier import Classifier
from edgeeye.inference.detector import Detector
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.results import Inference, Task


class FrameModel(Protocol):
    """A loaded model, one per worker process."""

    def infer(self, rgb: np.ndarray, top_k: int) -> Inference:
        """What the model makes of one model-size RGB frame."""
        ...


def open_model(spec: ModelSpec) -> FrameModel:
    """Load the model a spec describes; raises ``ModelError`` naming the model file."""
    if spec.task is Task.DETECT:
        return Detector(spec)
    return Classifier(spec)
