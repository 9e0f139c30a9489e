"""The image classifier a worker runs: one interpreter, its input and output conversions."""

from __future__ import annotations

import time

import numpy as np

from edgeeye.errors import ModelError
from edgeeye.inference.input_conversion import InputConversion
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.model import ModelSpec
from edgeeye.inference.results import Inference, Label


class Classifier:
    """One interpreter and its pre/post-processing; one per worker process."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._interpreter = load_interpreter(spec.path, spec.threads)
        input_detail = self._interpreter.get_input_details()[0]
        output_detail = self._interpreter.get_output_details()[0]
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        scale, zero = output_detail["quantization"]
        self._output_scale = float(scale) if scale else 1.0
        self._output_zero = int(zero) if scale else 0
        self._to_input = InputConversion(spec, tuple(input_detail["shape"]))

    def infer(self, rgb: np.ndarray, top_k: int) -> Inference:
        """The ``top_k`` labels, best first, as an ``Inference``."""
        labels, inference_ms = self.classify(rgb, top_k, 0.0)
        return Inference(labels, (), inference_ms)

    def classify(self, rgb: np.ndarray, top_k: int, min_score: float) -> tuple[list[Label], float]:
        """Top-k ``(index, label, score)`` above ``min_score``, and the invoke time in ms."""
        self._interpreter.set_tensor(self._input_index, self._to_input(rgb))
        started = time.perf_counter()
        try:
            self._interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"model {self.spec.path}: invoke failed: {exc}") from exc
        inference_ms = (time.perf_counter() - started) * 1000.0
        raw = self._interpreter.get_tensor(self._output_index).reshape(-1)
        scores = (raw.astype(np.float32) - self._output_zero) * self._output_scale
        k = min(top_k, scores.size)
        best = np.argpartition(scores, -k)[-k:]
        best = best[np.argsort(scores[best])[::-1]]
        top = [
            (int(i), self.spec.labels[i], round(float(scores[i]), 4))
            for i in best
            if scores[i] >= min_score
        ]
        return top, inference_ms
