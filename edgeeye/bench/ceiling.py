"""The physical limit: one bare interpreter on one core, with the workers' preprocessing."""

from __future__ import annotations

from dataclasses import replace

from edgeeye.bench.common import BenchModel, infer_frame, rate_for, synthetic_frames
from edgeeye.inference.runner import open_model


def single_core_rate(model: BenchModel, width: int, height: int, seconds: float) -> float:
    """Frames per second of preprocess + invoke in this process, one interpreter thread.

    The best of three runs: on a shared machine a run can only be slowed down, never sped up,
    so the fastest is the closest to what the core can do.
    """
    classifier = open_model(replace(model.spec, threads=1))
    frames = synthetic_frames(width, height)

    def step(i: int) -> None:
        infer_frame(classifier, frames[i % len(frames)], model.size)

    return max(rate_for(seconds / 3, step) for _ in range(3))
