"""The designs edgeeye is held against, each written the simple, idiomatic way.

All four get the same model, the same frames and the same preprocessing; a capture thread
hands out a fresh copy of a frame (as a camera read does) into a bounded queue, so each
design runs at its own full speed.  Throughput counts frames classified per second over the
measurement window; latency is from the frame's creation to the end of its classification.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.synchronize import Event
from typing import Any, Protocol

import numpy as np

from edgeeye.bench.common import BenchModel, infer_frame, synthetic_frames
from edgeeye.inference.classifier import Classifier
from edgeeye.inference.model import ModelSpec
from edgeeye.publish.stats import percentiles

#: A frame as the capture thread hands it out: when it was made, and its pixels.
_Stamped = tuple[float, np.ndarray]


class _FrameQueue(Protocol):
    """What the designs' queues have in common (``queue.Queue``, ``multiprocessing.Queue``)."""

    def put(self, item: _Stamped, block: bool = True, timeout: float | None = None) -> None: ...

    def get(self, block: bool = True, timeout: float | None = None) -> _Stamped: ...


class _Tally:
    """Completion times and latencies inside the measurement window."""

    def __init__(self, window_start: float, window_end: float) -> None:
        self.window = (window_start, window_end)
        self.latencies_ms: list[float] = []
        self._lock = threading.Lock()

    def done(self, created: float) -> None:
        now = time.monotonic()
        if self.window[0] <= now < self.window[1]:
            with self._lock:
                self.latencies_ms.append((now - created) * 1000)


def _capture_thread(
    frames: list[np.ndarray], out: _FrameQueue, stop: threading.Event
) -> threading.Thread:
    def capture() -> None:
        index = 0
        while not stop.is_set():
            frame = frames[index % len(frames)].copy()
            index += 1
            while not stop.is_set():
                try:
                    out.put((time.monotonic(), frame), timeout=0.1)
                    break
                except queue.Full:
                    continue

    thread = threading.Thread(target=capture, daemon=True)
    thread.start()
    return thread


def _consume(
    frames: _FrameQueue,
    classifier: Classifier,
    size: tuple[int, int],
    tally: _Tally,
    stop: threading.Event,
) -> None:
    while not stop.is_set():
        try:
            created, frame = frames.get(timeout=0.1)
        except queue.Empty:
            continue
        infer_frame(classifier, frame, size)
        tally.done(created)


def _timed(
    run: Callable[[_Tally, threading.Event], Callable[[], None]], warmup: float, seconds: float
) -> dict[str, Any]:
    start = time.monotonic() + warmup
    tally = _Tally(start, start + seconds)
    stop = threading.Event()
    finish = run(tally, stop)
    time.sleep(warmup + seconds)
    stop.set()
    finish()
    return {
        "throughput_fps": round(len(tally.latencies_ms) / seconds, 2),
        "latency_ms": percentiles(tally.latencies_ms),
    }


def _single_loop(
    spec: ModelSpec, frames: list[np.ndarray], warmup: float, seconds: float
) -> dict[str, Any]:
    """A capture thread, a small ``queue.Queue`` and one inference loop on one interpreter."""

    def run(tally: _Tally, stop: threading.Event) -> Callable[[], None]:
        frame_queue: queue.Queue[_Stamped] = queue.Queue(maxsize=4)
        classifier = Classifier(spec)
        capture = _capture_thread(frames, frame_queue, stop)
        loop = threading.Thread(
            target=_consume, args=(frame_queue, classifier, spec.input_size, tally, stop)
        )
        loop.start()

        def finish() -> None:
            loop.join()
            capture.join()

        return finish

    return _timed(run, warmup, seconds)


def thread_and_queue(
    model: BenchModel, frames: list[np.ndarray], workers: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """The tutorial design: a capture thread, a queue.Queue, one inference loop."""
    return _single_loop(_one_thread(model.spec), frames, warmup, seconds)


def thread_pool(
    model: BenchModel, frames: list[np.ndarray], workers: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """One interpreter per thread; LiteRT releases the GIL while it invokes."""

    def run(tally: _Tally, stop: threading.Event) -> Callable[[], None]:
        frame_queue: queue.Queue[_Stamped] = queue.Queue(maxsize=2 * workers)
        capture = _capture_thread(frames, frame_queue, stop)
        threads = [
            threading.Thread(
                target=_consume,
                args=(frame_queue, Classifier(_one_thread(model.spec)), model.size, tally, stop),
            )
            for _ in range(workers)
        ]
        for thread in threads:
            thread.start()

        def finish() -> None:
            for thread in [*threads, capture]:
                thread.join()

        return finish

    return _timed(run, warmup, seconds)


def multithreaded_interpreter(
    model: BenchModel, frames: list[np.ndarray], workers: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """One interpreter told to use every core (``num_threads`` = workers)."""
    return _single_loop(replace(model.spec, threads=workers), frames, warmup, seconds)


def _process_worker(
    spec: ModelSpec,
    frames: multiprocessing.Queue[_Stamped],
    done: multiprocessing.Queue[float],
    stop: Event,
) -> None:
    classifier = Classifier(spec)
    while not stop.is_set():
        try:
            created, frame = frames.get(timeout=0.1)
        except queue.Empty:
            continue
        infer_frame(classifier, frame, spec.input_size)
        done.put(created)


def pickled_processes(
    model: BenchModel, frames: list[np.ndarray], workers: int, warmup: float, seconds: float
) -> dict[str, Any]:
    """Worker processes that receive every frame pickled through a multiprocessing.Queue."""
    ctx = multiprocessing.get_context("spawn")

    def run(tally: _Tally, stop: threading.Event) -> Callable[[], None]:
        frame_queue, done, process_stop = ctx.Queue(maxsize=2 * workers), ctx.Queue(), ctx.Event()
        processes = [
            ctx.Process(
                target=_process_worker,
                args=(_one_thread(model.spec), frame_queue, done, process_stop),
            )
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        capture = _capture_thread(frames, frame_queue, stop)

        def collect() -> None:
            while not stop.is_set():
                try:
                    tally.done(done.get(timeout=0.1))
                except queue.Empty:
                    continue

        collector = threading.Thread(target=collect, daemon=True)
        collector.start()

        def finish() -> None:
            process_stop.set()
            capture.join()
            collector.join()
            for process in processes:
                process.join(5)
                if process.is_alive():
                    process.kill()
            frame_queue.cancel_join_thread()
            done.cancel_join_thread()

        return finish

    return _timed(run, warmup + 3.0, seconds)  # processes load their models first


def _one_thread(spec: ModelSpec) -> ModelSpec:
    return replace(spec, threads=1)


DESIGNS: dict[str, Callable[..., dict[str, Any]]] = {
    "thread_and_queue": thread_and_queue,
    "thread_pool": thread_pool,
    "multithreaded_interpreter": multithreaded_interpreter,
    "pickled_processes": pickled_processes,
}


def measure(
    model: BenchModel,
    width: int,
    height: int,
    workers: int,
    warmup: float,
    seconds: float,
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    frames = synthetic_frames(width, height)
    results = {}
    for name, design in DESIGNS.items():
        results[name] = design(model, frames, workers, warmup, seconds)
        progress(
            f"  baseline {name} at {width}x{height}: {results[name]['throughput_fps']} frames/s"
        )
    return results
