"""The object detector a worker runs: an SSD-style model ending in TFLite's detection
post-processing op, whose four outputs ``detection_outputs`` has told apart."""

from __future__ import annotations

import time

import numpy as np

from edgeeye.errors import ModelError
from edgeeye.inference.input_conversion import InputConversion
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.results import Detection, Inference, labels_of


class Detector:
    """One interpreter and its pre/post-processing; one per worker process."""

    def __init__(self, spec: ModelSpec) -> None:
        if spec.detection_outputs is None:
            raise ModelError(f"model {spec.path}: was not inspected as a detector")
        self.spec = spec
        self._interpreter = load_interpreter(spec.path, spec.threads)
        input_detail = self._interpreter.get_input_details()[0]
        outputs = self._interpreter.get_output_details()
        roles = spec.detection_outputs
        self._input_index = input_detail["index"]
        self._boxes = outputs[roles.boxes]["index"]
        self._classes = outputs[roles.classes]["index"]
        self._scores = outputs[roles.scores]["index"]
        self._count = outputs[roles.count]["index"]
        self._to_input = InputConversion(spec, tuple(input_detail["shape"]))

    def infer(self, rgb: np.ndarray, top_k: int) -> Inference:
        """Every detection the model reports, best first, with boxes in fractions of the
        frame (``rgb`` is the whole frame resized, so the model's fractions are the
        frame's); ``top_k`` is a classifier's and is not used."""
        interpreter = self._interpreter
        interpreter.set_tensor(self._input_index, self._to_input(rgb))
        started = time.perf_counter()
        try:
            interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"model {self.spec.path}: invoke failed: {exc}") from exc
        inference_ms = (time.perf_counter() - started) * 1000.0
        scores = interpreter.get_tensor(self._scores).reshape(-1)
        reported = int(np.asarray(interpreter.get_tensor(self._count)).item())
        count = max(0, min(reported, scores.size))
        classes = interpreter.get_tensor(self._classes).reshape(-1)[:count]
        # The op's boxes are (y_min, x_min, y_max, x_max) and may reach a little past 0-1.
        boxes = np.clip(interpreter.get_tensor(self._boxes).reshape(-1, 4)[:count], 0.0, 1.0)
        labels = self.spec.labels
        found = []
        for i in np.argsort(-scores[:count], kind="stable"):
            score = float(scores[i])
            if not score > 0.0:  # NaN too
                continue
            index = int(classes[i])
            y_min, x_min, y_max, x_max = (round(float(v), 4) for v in boxes[i])
            found.append(
                Detection(
                    index=index,
                    label=labels[index] if 0 <= index < len(labels) else str(index),
                    score=round(score, 4),
                    box=(x_min, y_min, x_max, y_max),
                )
            )
        detections = tuple(found)
        return Inference(labels_of(detections), detections, inference_ms)
