"""Generated frames at any size and rate: benchmarks and demos without a camera."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeeye.sources.frame import (
    CapturedFrame,
    Pacer,
    PixelFormat,
    slot_array,
    stamp_sequence,
)


@dataclass(frozen=True)
class SyntheticSettings:
    width: int = 640
    height: int = 480
    fps: float = 0.0
    stamp: bool = False

    def make(self, model_size: tuple[int, int]) -> SyntheticSource:
        return SyntheticSource(self)


class SyntheticSource:
    """Generated RGB frames at any size and rate: benchmarks and demos without a camera."""

    finite = False
    bad_frame_limit = 1  # it renders its own frames: none is ever bad
    _VARIANTS = 8

    def __init__(self, settings: SyntheticSettings) -> None:
        self.settings = settings
        self._frames: list[np.ndarray] = []
        self._pacer = Pacer(settings.fps)

    def max_frame_bytes(self) -> int:
        return self.settings.width * self.settings.height * 3

    def open(self) -> None:
        # A few pre-rendered frames: generating one per call would cost more than inference.
        # Each is the first gradient shifted per channel (uint8 addition wraps as % 256
        # would), which renders in a fraction of the time the float arithmetic takes: the
        # appliance's first result waits for it.
        h, w = self.settings.height, self.settings.width
        ys = np.linspace(0, 255, h, dtype=np.float32)[:, None]
        xs = np.linspace(0, 255, w, dtype=np.float32)[None, :]
        base = np.empty((h, w, 3), np.uint8)
        base[..., 0] = xs
        base[..., 1] = ys
        base[..., 2] = (xs + ys) / 2
        steps = np.array([32, 16, 48])
        for k in range(self._VARIANTS):
            self._frames.append(base + (steps * k % 256).astype(np.uint8))

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame:
        self._pacer.wait()
        h, w = self.settings.height, self.settings.width
        target = slot_array(slot, (h, w, 3))
        np.copyto(target, self._frames[sequence % self._VARIANTS])
        if self.settings.stamp:
            stamp_sequence(target, sequence)
        return CapturedFrame(h, w, PixelFormat.RGB888)

    def close(self) -> None:
        self._frames = []
