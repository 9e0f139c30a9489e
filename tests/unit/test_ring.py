"""The frame ring in one process: slot lifetimes, drop-oldest, wrap-around, reclaim, cleanup.

Across processes: tests/integration/test_ring_processes.py."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from edgeeye.errors import ResourceError
from edgeeye.pipeline.frames import FrameDescriptor, frame_view
from edgeeye.pipeline.ring import Counter, FrameRing, SlotState
from edgeeye.pipeline.segment import SEGMENT_PREFIX, check_shm_space
from edgeeye.sources.frame import PixelFormat
from tests.support.ring import write_frame

CTX = multiprocessing.get_context("spawn")


def test_frames_come_out_in_order_with_their_pixels(ring):
    for sequence in range(3):
        write_frame(ring, sequence)
    for sequence in range(3):
        descriptor = ring.take(worker_id=0, timeout=0.1)
        assert descriptor.sequence == sequence
        assert ring.slot_state[descriptor.slot_index] == SlotState.READING
        assert (frame_view(ring.slot(descriptor.slot_index), descriptor) == sequence).all()
        ring.release(descriptor.slot_index)
    assert ring.take(worker_id=0, timeout=0.05) is None
    assert ring.idle()


def test_full_ring_drops_the_oldest_waiting_frame(ring):
    for sequence in range(3):
        write_frame(ring, sequence)
    slot_index, dropped = write_frame(ring, 3)
    assert dropped.sequence == 0 and slot_index == dropped.slot_index
    assert ring.counters[Counter.FRAMES_DROPPED] == 1
    assert [ring.take(0, 0.1).sequence for _ in range(3)] == [1, 2, 3]


def test_a_wake_comes_after_the_waiting_frames_and_owns_no_slot(ring):
    write_frame(ring, 0)
    ring.wake_workers(1)
    first = ring.take(worker_id=0, timeout=0.1)
    assert first.sequence == 0 and not first.is_wake
    ring.release(first.slot_index)
    woken = ring.take(worker_id=1, timeout=0.1)
    assert woken.is_wake
    assert ring.idle() and ring.counters[Counter.FRAMES_CAPTURED] == 1
    assert ring.take(worker_id=0, timeout=0.05) is None


def test_capture_dropping_the_oldest_passes_a_wake_on(ring):
    ring.wake_workers(1)
    for sequence in range(3):
        write_frame(ring, sequence)
    _, dropped = write_frame(ring, 3)  # the ring is full: frame 0 goes, the wake stays
    assert dropped.sequence == 0 and ring.counters[Counter.FRAMES_DROPPED] == 1
    taken = [ring.take(0, 0.1) for _ in range(4)]
    assert [d.is_wake for d in taken] == [False, False, True, False]
    assert [d.sequence for d in taken if not d.is_wake] == [1, 2, 3]


def test_a_slot_being_read_is_never_overwritten(ring):
    for sequence in range(3):
        write_frame(ring, sequence)
    reading = [ring.take(worker_id=1, timeout=0.1) for _ in range(3)]
    # every slot is being read: capture must wait, not steal
    assert write_frame(ring, 3) is None
    for descriptor in reading:
        assert (
            frame_view(ring.slot(descriptor.slot_index), descriptor) == descriptor.sequence
        ).all()
    ring.release(reading[1].slot_index)
    slot_index, dropped = write_frame(ring, 3)
    assert slot_index == reading[1].slot_index and dropped is None


def test_finite_sources_wait_instead_of_dropping(ring):
    for sequence in range(3):
        write_frame(ring, sequence, drop_oldest=False)
    assert write_frame(ring, 3, drop_oldest=False) is None
    assert ring.counters[Counter.FRAMES_DROPPED] == 0


def test_slots_wrap_around_and_are_reused(ring):
    used = []
    for sequence in range(30):
        write_frame(ring, sequence)
        descriptor = ring.take(0, 0.1)
        assert descriptor.sequence == sequence
        used.append(descriptor.slot_index)
        ring.release(descriptor.slot_index)
    assert set(used) <= {0, 1, 2} and ring.free_slot_count() == 3
    assert ring.counters[Counter.FRAMES_CAPTURED] == 30


def test_reclaim_frees_what_a_dead_worker_held(ring):
    for sequence in range(2):
        write_frame(ring, sequence)
    ring.take(worker_id=4, timeout=0.1)
    ring.take(worker_id=5, timeout=0.1)
    assert ring.reclaim_worker(4) == 1
    assert ring.free_slot_count() == 2
    # the semaphore agrees with the state table: two writes succeed without stealing
    assert write_frame(ring, 2)[1] is None and write_frame(ring, 3)[1] is None


def test_a_frame_a_dead_worker_held_is_counted_lost_and_a_finished_one_is_not(ring):
    for sequence in range(3):
        write_frame(ring, sequence)
    for worker_id in (1, 2, 3):
        descriptor = ring.take(worker_id=worker_id, timeout=0.1)
        ring.release(descriptor.slot_index)  # workers give the slot back before invoking
    ring.finished(2)  # worker 2 sent its result; 1 and 3 die in their invoke
    assert [ring.reclaim_worker(w) for w in (1, 2, 3)] == [0, 0, 0]
    assert ring.counters[Counter.FRAMES_LOST] == 2
    assert ring.reclaim_worker(1) == 0 and ring.counters[Counter.FRAMES_LOST] == 2


def test_reclaim_writer_frees_the_slot_a_killed_capture_was_writing(ring):
    write_frame(ring, 0)
    slot_index, _ = ring.acquire_for_write(drop_oldest=True, timeout=0.1)
    assert ring.slot_state[slot_index] == SlotState.WRITING
    assert ring.reclaim_writer() == 1 and ring.free_slot_count() == 2
    # the semaphore agrees: two more writes without dropping the waiting frame
    assert write_frame(ring, 1)[1] is None and write_frame(ring, 2)[1] is None


def test_close_removes_the_segment_and_is_safe_twice():
    made = FrameRing.create(CTX, slot_count=2, slot_bytes=100)
    path = Path("/dev/shm") / made.handle.segment_name
    assert path.exists()
    made.close()
    made.close()
    assert not path.exists()


def test_a_ring_larger_than_dev_shm_is_refused_with_both_figures():
    stats = os.statvfs("/dev/shm")
    too_big = stats.f_bavail * stats.f_frsize + 2**30
    with pytest.raises(ResourceError, match=r"needs .* MiB but only .* MiB are free"):
        check_shm_space(too_big)
    with pytest.raises(ResourceError, match="/dev/shm"):
        FrameRing.create(CTX, slot_count=2, slot_bytes=too_big // 2)
    assert not any(Path("/dev/shm").glob(f"{SEGMENT_PREFIX}{os.getpid()}_*"))


def test_descriptor_round_trip():
    descriptor = FrameDescriptor(2, 2**40, 123456789, 1080, 1920, PixelFormat.YUV420, 9)
    assert FrameDescriptor.unpack(descriptor.pack()) == descriptor
    assert descriptor.nbytes == 1080 * 1920 * 3 // 2
    assert np.frombuffer(descriptor.pack(), np.uint8).size == 37
