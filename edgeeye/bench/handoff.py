"""Hand-off cost per frame: the ring's descriptor and semaphores versus a pickling queue.

Two figures per method and frame size, both from "capture has the frame" to "another process
can read it":
- ``cost_us``: frames streamed back to back through a 4-deep hand-off, total time divided by
  frames: what each frame costs the pipeline in steady state;
- ``latency_us``: one frame in flight at a time (the reader acknowledges each), one-way.
For the ring the frame already sits in its slot (capture writes it there in any design);
for the queue it is pickled, piped and unpickled: the cost the ring exists to avoid.
"""

from __future__ import annotations

import multiprocessing
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from edgeeye.pipeline.frames import FrameDescriptor
from edgeeye.pipeline.ring import FrameRing, RingHandle
from edgeeye.sources.frame import PixelFormat

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Semaphore


class _Finished(NamedTuple):
    """A reader's report: when it finished, and each frame's delay in µs."""

    at_ns: int
    delays_us: list[float]


FRAME_SIZES = ((640, 480), (1280, 720), (1920, 1080))


def _ring_reader(
    handle: RingHandle, count: int, ack: Semaphore | None, out: Queue[_Finished]
) -> None:
    ring = FrameRing.attach(handle)
    delays = []
    for _ in range(count):
        descriptor = ring.take(worker_id=0, timeout=30)
        if descriptor is None:
            raise TimeoutError("bench: no frame in the ring for 30 s")
        delays.append((time.monotonic_ns() - descriptor.capture_ts_ns) / 1000)
        ring.release(descriptor.slot_index)
        if ack is not None:
            ack.release()
    ring.close()
    out.put(_Finished(time.monotonic_ns(), delays))


def _queue_reader(
    frames: Queue[tuple[int, np.ndarray]],
    count: int,
    ack: Semaphore | None,
    out: Queue[_Finished],
) -> None:
    delays = []
    for _ in range(count):
        sent_ns, frame = frames.get(timeout=30)
        delays.append((time.monotonic_ns() - sent_ns) / 1000)
        del frame
        if ack is not None:
            ack.release()
    out.put(_Finished(time.monotonic_ns(), delays))


def _run(method: str, width: int, height: int, count: int, ping_pong: bool) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    ack = ctx.Semaphore(0) if ping_pong else None
    ring = None
    if method == "ring":
        ring = FrameRing.create(ctx, slot_count=4, slot_bytes=width * height * 3)
        reader = ctx.Process(target=_ring_reader, args=(ring.handle, count, ack, out))
    else:
        frames = ctx.Queue(maxsize=4)
        frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
        reader = ctx.Process(target=_queue_reader, args=(frames, count, ack, out))
    reader.start()
    try:
        time.sleep(0.5)  # the reader is up and blocked before the clock starts
        started = time.monotonic_ns()
        for sequence in range(count):
            if ring is not None:
                acquired = ring.acquire_for_write(drop_oldest=False, timeout=30)
                if acquired is None:
                    raise TimeoutError("bench: no free ring slot for 30 s")
                slot_index, _ = acquired
                ring.publish(
                    FrameDescriptor(
                        slot_index, sequence, time.monotonic_ns(), height, width, PixelFormat.RGB888
                    )
                )
            else:
                frames.put((time.monotonic_ns(), frame))
            if ack is not None:
                ack.acquire(timeout=30)
        report = out.get(timeout=120)
        finished, delays = report.at_ns, report.delays_us
    finally:
        reader.join(10)
        if ring is not None:
            ring.close()
    if ping_pong:
        return {"latency_us": round(float(np.median(delays)), 1)}
    return {"cost_us": round((finished - started) / 1000 / count, 1)}


def measure(count: int, progress: Any = print) -> list[dict[str, Any]]:
    rows = []
    for width, height in FRAME_SIZES:
        row: dict[str, Any] = {"frame": f"{width}x{height}"}
        for method in ("ring", "pickled_queue"):
            row[method] = {
                **_run(method, width, height, count, ping_pong=False),
                **_run(method, width, height, max(20, count // 4), ping_pong=True),
            }
        progress(
            f"  hand-off {row['frame']}: ring {row['ring']['cost_us']} us/frame,"
            f" pickled queue {row['pickled_queue']['cost_us']} us/frame"
        )
        rows.append(row)
    return rows
