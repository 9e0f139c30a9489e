"""How RGB pixels become a model's input tensor, from what the model says of itself."""

from __future__ import annotations

import numpy as np

from edgeeye.inference.model import DEFAULT_FLOAT_NORMALIZATION, ModelSpec


class InputConversion:
    """Model-size RGB uint8 to the input tensor of ``spec``'s model, shaped ``shape``.

    The rule: a float input is normalised with the mean and std of its metadata, else to
    [-1, 1].  A quantized input gets the real value the metadata's normalisation gives,
    in its own scale and zero point; without metadata, pixels 0-255 span its quantized
    range (raw pixels for uint8, pixel - 128 for int8).  Where the two differ by at most
    one level (mean 127.5 and std 127.5 against a scale of 1/128: the same intent,
    rounded), the plain shift is used: it is what the model was calibrated with, and it
    costs nothing per frame.
    """

    def __init__(self, spec: ModelSpec, shape: tuple[int, ...]) -> None:
        self._shape = shape
        self._mean: np.ndarray | None = None
        self._std: np.ndarray | None = None
        self._lookup: np.ndarray | None = None
        if spec.input_dtype == "float32":
            norm = spec.normalization or DEFAULT_FLOAT_NORMALIZATION
            self._mean = np.asarray(norm.mean, np.float32)
            self._std = np.asarray(norm.std, np.float32)
        else:
            self._lookup = _quantized_lookup(spec)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        tensor: np.ndarray
        if self._mean is not None and self._std is not None:
            tensor = (rgb.astype(np.float32) - self._mean) / self._std
        elif self._lookup is None:
            tensor = rgb  # a uint8 model that takes raw pixels, as most quantized ones do
        else:
            indices = rgb.reshape(-1, 3).astype(np.intp)
            tensor = np.take_along_axis(self._lookup, indices, 0)
        return tensor.reshape(self._shape)


def _quantized_lookup(spec: ModelSpec) -> np.ndarray | None:
    """A 256 x 3 table from pixel to quantized input, or None when it is the identity."""
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
        return None
    return table.astype(spec.input_dtype)
