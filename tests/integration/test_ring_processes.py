"""The frame ring across processes: a reader in another process, segments of dead runs."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from pathlib import Path

from edgeeye.pipeline.frames import frame_view
from edgeeye.pipeline.ring import FrameRing, RingHandle
from edgeeye.pipeline.segment import SEGMENT_PREFIX, remove_stale_segments
from tests.support.ring import write_frame

CTX = multiprocessing.get_context("spawn")


def _child_reads(handle: RingHandle, out: Queue) -> None:
    attached = FrameRing.attach(handle)
    descriptor = attached.take(worker_id=0, timeout=5)
    out.put(
        (
            descriptor.sequence,
            int(frame_view(attached.slot(descriptor.slot_index), descriptor)[0, 0, 0]),
        )
    )
    attached.release(descriptor.slot_index)
    attached.close()


def test_another_process_reads_the_frame_in_place(ring):
    out = CTX.Queue()
    child = CTX.Process(target=_child_reads, args=(ring.handle, out))
    child.start()
    write_frame(ring, 7)
    assert out.get(timeout=30) == (7, 7)
    child.join(10)
    assert child.exitcode == 0 and ring.idle()


def test_stale_segments_of_dead_runs_are_removed():
    dead = CTX.Process(target=int)
    dead.start()
    dead.join()
    stale = Path("/dev/shm") / f"{SEGMENT_PREFIX}{dead.pid}_deadbeef"
    stale.write_bytes(b"x")
    mine = FrameRing.create(CTX, slot_count=2, slot_bytes=10)
    try:
        assert not stale.exists()
        assert (Path("/dev/shm") / mine.handle.segment_name).exists()
        assert remove_stale_segments() == []
    finally:
        mine.close()
        stale.unlink(missing_ok=True)
