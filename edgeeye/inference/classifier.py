"""The image classifier a worker runs: one interpreter, its input and output conversions."""

from __future__ import annotations

import time

import numpy as np

from edgeeye.errors import ModelError
from edgeeye.inference.interpreter import load_interpreter
from edgeeye.inference.model import DEFAULT_FLOAT_NORMALIZATION, ModelSpec


class Classifier:
    """One interpreter and its pre/post-processing; one per worker process."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._interpreter = load_interpreter(spec.path, spec.threads)
        input_detail = self._interpreter.get_input_details()[0]
        output_detail = self._interpreter.get_output_details()[0]
        self._input_index = input_detail["index"]
        self._output_index = output_detail["index"]
        self._input_shape = tuple(input_detail["shape"])
        scale, zero = output_detail["quantization"]
        self._output_scale = float(scale) if scale else 1.0
        self._output_zero = int(zero) if scale else 0
        self._float_mean, self._float_std, self._lookup = _input_conversion(spec)

    def _to_input(self, rgb: np.ndarray) -> np.ndarray:
        tensor: np.ndarray
        if self._float_mean is not None and self._float_std is not None:
            tensor = (rgb.astype(np.float32) - self._float_mean) / self._float_std
        elif self._lookup is None:
            tensor = rgb  # a uint8 model that takes raw pixels, as most quantized ones do
        else:
            indices = rgb.reshape(-1, 3).astype(np.intp)
            tensor = np.take_along_axis(self._lookup, indices, 0)
        return tensor.reshape(self._input_shape)

    def classify(
        self, rgb: np.ndarray, top_k: int, min_score: float
    ) -> tuple[list[tuple[int, str, float]], float]:
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


def _input_conversion(
    spec: ModelSpec,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """How pixels become the model's input: (mean, std) for a float input, else a
    256 x 3 lookup table into the quantized type (None when that is the identity).

    The rule, from what the model says of itself: a float input is normalised with the
    mean and std of its metadata, else to [-1, 1].  A quantized input gets the real value
    the metadata's normalisation gives, in its own scale and zero point; without metadata,
    pixels 0-255 span its quantized range (raw pixels for uint8, pixel - 128 for int8).
    Where the two differ by at most one level (mean 127.5 and std 127.5 against a scale of
    1/128: the same intent, rounded), the plain shift is used: it is what the model was
    calibrated with, and it costs nothing per frame.
    """
    if spec.input_dtype == "float32":
        norm = spec.normalization or DEFAULT_FLOAT_NORMALIZATION
        mean, std = (np.asarray(v, np.float32) for v in (norm.mean, norm.std))
        return mean, std, None
    info = np.iinfo(np.dtype(spec.input_dtype))
    pixels = np.arange(256, dtype=np.float64)[:, None].repeat(3, axis=1)
    shifted = pixels + info.min
    table = shifted
    scale, zero = spec.input_quantization
    if spec.normalization is not None and scale:
        mean = np.asarray(spec.normalization.mean, np.float64)
        std = np.asarray(spec.normalization.std, np.float64)
        table = np.clip(np.round((pixels - mean) / std / scale + zero), info.min, info.max)
        if np.abs(table - shifted).max() <= 1:
            table = shifted
    if spec.input_dtype == "uint8" and (table == pixels).all():
        return None, None, None
    return None, None, table.astype(spec.input_dtype)
