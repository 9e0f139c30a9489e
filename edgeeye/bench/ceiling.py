"""The physical limit: one bare interpreter on one core, with the workers' preprocessing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace

from edgeeye.bench.common import BenchModel, infer_frame, rate_for, synthetic_frames
from edgeeye.inference.runner import open_model


def _infer_step(model: BenchModel, width: int, height: int) -> Callable[[int], None]:
    """One preprocess + invoke of the i-th synthetic frame on a fresh one-thread interpreter."""
    classifier = open_model(replace(model.spec, threads=1))
    frames = synthetic_frames(width, height)

    def step(i: int) -> None:
        infer_frame(classifier, frames[i % len(frames)], model.size)

    return step


def single_core_rate(model: BenchModel, width: int, height: int, seconds: float) -> float:
    """Frames per second of preprocess + invoke in this process, one interpreter thread.

    The best of three runs: on a shared machine a run can only be slowed down, never sped up,
    so the fastest is the closest to what the core can do.
    """
    step = _infer_step(model, width, height)
    return max(rate_for(seconds / 3, step) for _ in range(3))


def bare_pace(model: BenchModel, width: int, height: int, seconds: float) -> float:
    """Frames per CPU-second of preprocess + invoke in one sustained run of ``seconds`` on
    this thread, pinned to the first usable core as worker 0 is.

    What a worker's pace (its frames over the CPU time it got, in a run of about that
    length) is set against: a best of three one-second runs catches the machine at its
    fastest moment, which a 20-second run of anything cannot match.
    """
    step = _infer_step(model, width, height)
    usable = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(usable)})
    try:
        return rate_for(seconds, step, per=time.thread_time)
    finally:
        os.sched_setaffinity(0, usable)
