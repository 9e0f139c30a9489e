"""What every benchmark part shares: the model, the frames, and how to time a loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeeye.inference.model import ModelSpec
from edgeeye.inference.preprocess import to_model_rgb
from edgeeye.inference.runner import FrameModel
from edgeeye.sources.frame import PixelFormat
from edgeeye.sources.synthetic import SyntheticSettings, SyntheticSource


@dataclass(frozen=True)
class BenchModel:
    """The model under test, resolved to files, plus its inspected spec."""

    name: str
    spec: ModelSpec
    labels_path: Path

    @property
    def size(self) -> tuple[int, int]:
        return self.spec.input_size


def synthetic_frames(width: int, height: int, count: int = 8) -> list[np.ndarray]:
    """The very frames the appliance's synthetic source produces, for the baselines."""
    source = SyntheticSource(SyntheticSettings(width=width, height=height))
    source.open()
    frames = []
    for sequence in range(count):
        slot = memoryview(bytearray(source.max_frame_bytes()))
        source.read_into(slot, sequence)
        frames.append(np.frombuffer(slot, np.uint8).reshape(height, width, 3).copy())
    source.close()
    return frames


def infer_frame(model: FrameModel, frame: np.ndarray, size: tuple[int, int]) -> None:
    """The same preprocessing and invoke the workers do (a classifier's, or a detector's)."""
    rgb = to_model_rgb(frame, PixelFormat.RGB888, frame.shape[0], frame.shape[1], size)
    model.infer(rgb, 3)


def rate_for(
    seconds: float,
    step: Callable[[int], None],
    warmup: int = 5,
    per: Callable[[], float] = time.perf_counter,
) -> float:
    """Calls of ``step`` per second of ``per`` (wall-clock time, or this thread's CPU time
    with ``time.thread_time``) over ``seconds`` of wall-clock time, after ``warmup`` calls."""
    for i in range(warmup):
        step(i)
    done = 0
    started, per_started = time.perf_counter(), per()
    while time.perf_counter() - started < seconds:
        step(done)
        done += 1
    return done / max(per() - per_started, 1e-9)
