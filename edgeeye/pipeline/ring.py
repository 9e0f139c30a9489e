"""The shared-memory frame ring and its descriptor hand-off.

One POSIX shared-memory segment holds a small header (counters, per-slot state) and
``slot_count`` fixed-size frame slots.  Frames never leave it: capture writes a slot, a
37-byte descriptor goes through a pipe, a worker reads the slot in place.

Who may move a slot between states, and how (a slot's lifetime is explicit, like a
picamera2 request: whoever holds it must release it):

    FREE --capture: acquire_for_write--> WRITING --capture: publish--> FILLED
    FILLED --worker: take--> READING --worker: release--> FREE
    FILLED --capture: acquire_for_write(drop_oldest)--> WRITING      (the frame is dropped)
    READING --supervisor: reclaim_worker (the reader died)--> FREE

Two semaphores count the FREE and FILLED slots, so nobody busy-waits.  The descriptor pipe
is read only under ``claim_lock`` and only after ``filled`` was acquired, so the lock is
held for microseconds and never while waiting: a worker killed while idle holds nothing.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Lock, Semaphore

import numpy as np

from edgeeye.pipeline.frames import DESCRIPTOR_BYTES, WAKE, FrameDescriptor, frame_view
from edgeeye.pipeline.segment import Segment, remove_stale_segments

MAX_WORKERS = 64
_ALIGN = 64


class SlotStateError(RuntimeError):
    """A slot moved in a way its lifetime does not allow (a bug, never a bad input)."""


class SlotState(enum.IntEnum):
    FREE = 0
    WRITING = 1
    FILLED = 2
    READING = 3


class Counter(enum.IntEnum):
    """Indices into the header's counters; each has exactly one writing process."""

    FRAMES_CAPTURED = 0  # capture
    FRAMES_DROPPED = 1  # capture: waiting frames replaced by fresher ones
    FRAMES_SKIPPED = 2  # capture: unreadable frames from the source
    SOURCE_DONE = 3  # capture: 1 once a finite source has delivered its last frame
    FRAMES_LOST = 4  # supervisor: frames a worker held when it died (killed, hung, stalled)


_COUNTERS = 8

# Plain ints for the hot paths: an IntEnum member lookup costs microseconds per frame.
_FREE, _WRITING, _FILLED, _READING = (int(state) for state in SlotState)
_FRAMES_CAPTURED = int(Counter.FRAMES_CAPTURED)
_FRAMES_DROPPED = int(Counter.FRAMES_DROPPED)


@dataclass(frozen=True)
class RingHandle:
    """Everything a child process needs to attach to the ring; pickled at spawn."""

    segment_name: str
    slot_count: int
    slot_bytes: int
    free_slots: Semaphore
    filled_slots: Semaphore
    claim_lock: Lock
    descriptor_reader: Connection
    descriptor_writer: Connection


def segment_bytes(slot_count: int, slot_bytes: int) -> int:
    return _layout(slot_count, _round_up(slot_bytes))[-1]


def _round_up(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _layout(slot_count: int, slot_stride: int) -> tuple[int, int, int, int, int, int, int, int]:
    """Byte offsets of each header array and of the first slot, and the total size."""
    counters = 0
    worker_frames = counters + _COUNTERS * 8
    worker_busy = worker_frames + MAX_WORKERS * 8
    worker_holding = worker_busy + MAX_WORKERS * 8
    state = worker_holding + MAX_WORKERS * 8
    owner = state + slot_count * 8
    slots = _round_up(owner + slot_count * 8)
    return (
        counters,
        worker_frames,
        worker_busy,
        worker_holding,
        state,
        owner,
        slots,
        slots + slot_count * slot_stride,
    )


class FrameRing:
    """One process's view of the ring: ``create`` in the main process, ``attach`` in children."""

    def __init__(self, handle: RingHandle, segment: Segment) -> None:
        self.handle = handle
        self._segment = segment
        buffer = segment.view
        self._buffer = buffer
        self._free = handle.free_slots
        self._filled = handle.filled_slots
        self._claim_lock = handle.claim_lock
        # Descriptors are fixed-size records, written atomically: raw reads and writes on
        # the pipe skip Connection's length header (one syscall per frame fewer).
        self._descriptor_in = handle.descriptor_reader.fileno()
        self._descriptor_out = handle.descriptor_writer.fileno()
        self.slot_stride = _round_up(handle.slot_bytes)
        c, wf, wb, wh, st, ow, sl, _ = _layout(handle.slot_count, self.slot_stride)
        n = handle.slot_count
        self.counters = np.ndarray((_COUNTERS,), np.int64, buffer, c)
        self.worker_frames = np.ndarray((MAX_WORKERS,), np.int64, buffer, wf)
        #: monotonic_ns at which each worker started its current invoke, 0 when idle.
        self.worker_busy_since_ns = np.ndarray((MAX_WORKERS,), np.int64, buffer, wb)
        #: 1 from a worker's ``take`` of a frame until its result is sent (``finished``):
        #: a worker that dies holding one has lost that frame.
        self.worker_holding = np.ndarray((MAX_WORKERS,), np.int64, buffer, wh)
        self.slot_state = np.ndarray((n,), np.int64, buffer, st)
        self.slot_owner = np.ndarray((n,), np.int64, buffer, ow)
        self._slots_offset = sl

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def create(cls, ctx: BaseContext, slot_count: int, slot_bytes: int) -> FrameRing:
        """Make a new segment, reserving its memory now so a full /dev/shm fails here."""
        remove_stale_segments()
        segment = Segment.create(
            "ring",
            segment_bytes(slot_count, slot_bytes),
            "the frame ring",
            "use fewer ring.slots or a smaller frame size, or enlarge /dev/shm",
        )
        reader, writer = ctx.Pipe(duplex=False)
        handle = RingHandle(
            segment_name=segment.name,
            slot_count=slot_count,
            slot_bytes=slot_bytes,
            free_slots=ctx.Semaphore(slot_count),
            filled_slots=ctx.Semaphore(0),
            claim_lock=ctx.Lock(),
            descriptor_reader=reader,
            descriptor_writer=writer,
        )
        ring = cls(handle, segment)
        ring.slot_owner[:] = -1
        return ring

    def recreate(self, ctx: BaseContext, slot_count: int, slot_bytes: int) -> FrameRing:
        """A new ring of another size that carries this one's counters on; closes this one.

        Call only when no process uses this ring any more.
        """
        ring = FrameRing.create(ctx, slot_count, slot_bytes)
        ring.counters[:] = self.counters
        ring.worker_frames[:] = self.worker_frames
        self.close()
        return ring

    @classmethod
    def attach(cls, handle: RingHandle) -> FrameRing:
        """Map an existing segment; children never remove it (the owner does)."""
        size = segment_bytes(handle.slot_count, handle.slot_bytes)
        return cls(handle, Segment.attach(handle.segment_name, size))

    @property
    def closed(self) -> bool:
        return self._segment.buffer is None

    def close(self) -> None:
        """Drop this process's mapping; the owner also removes the segment. Safe twice."""
        if self.closed:
            return
        # The header arrays are views of the segment: they go first, so it can be unmapped.
        del self.counters, self.worker_frames, self.worker_busy_since_ns
        del self.slot_state, self.slot_owner, self._buffer
        self._segment.close()

    # -- capture side ----------------------------------------------------------------

    def acquire_for_write(
        self, drop_oldest: bool, timeout: float
    ) -> tuple[int, FrameDescriptor | None] | None:
        """A slot capture may write, and the waiting frame it replaced (if dropped).

        With ``drop_oldest`` the oldest FILLED frame is taken back when no slot is FREE, so
        the freshest frame wins; otherwise (finite sources) this waits.  None on timeout.
        """
        if self._free.acquire(block=False):
            return self._claim_free(), None
        if drop_oldest:
            dropped = self._take_descriptor(block=False)
            if dropped is not None and dropped.is_wake:
                self._post(dropped)  # a worker's, not a frame: it goes on to the workers
                dropped = self._take_descriptor(block=False)
                if dropped is not None and dropped.is_wake:  # the only one waiting
                    self._post(dropped)
                    dropped = None
            if dropped is not None:
                self.slot_state[dropped.slot_index] = _WRITING
                self.counters[_FRAMES_DROPPED] += 1
                return dropped.slot_index, dropped
        if self._free.acquire(timeout=timeout):
            return self._claim_free(), None
        return None

    def _claim_free(self) -> int:
        slot_index: int = self.slot_state.tolist().index(_FREE)
        self.slot_state[slot_index] = _WRITING
        return slot_index

    def publish(self, descriptor: FrameDescriptor) -> None:
        """Hand a written slot to the workers."""
        self.slot_state[descriptor.slot_index] = _FILLED
        self.counters[_FRAMES_CAPTURED] += 1
        self._post(descriptor)

    def _post(self, descriptor: FrameDescriptor) -> None:
        os.write(self._descriptor_out, descriptor.pack())
        self._filled.release()

    def wake_workers(self, count: int) -> None:
        """Wake ``count`` workers waiting in ``take`` (after the frames already waiting), so
        a stop is seen at once rather than at their next check."""
        for _ in range(count):
            self._post(WAKE)

    def abandon(self, slot_index: int) -> None:
        """Give back a slot capture acquired but did not fill (end of stream, bad frame)."""
        self.slot_state[slot_index] = _FREE
        self._free.release()

    # -- worker side -----------------------------------------------------------------

    def take(self, worker_id: int, timeout: float) -> FrameDescriptor | None:
        """The oldest waiting frame, now READING and owned by ``worker_id``; None on timeout.

        A ``WAKE`` descriptor is returned as it is (``is_wake``): it owns no slot.
        """
        descriptor = self._take_descriptor(block=True, timeout=timeout)
        if descriptor is not None and not descriptor.is_wake:
            self.worker_holding[worker_id] = 1
            self.slot_owner[descriptor.slot_index] = worker_id
            self.slot_state[descriptor.slot_index] = _READING
        return descriptor

    def _take_descriptor(self, block: bool, timeout: float | None = None) -> FrameDescriptor | None:
        if not self._filled.acquire(block, timeout):
            return None
        with self._claim_lock:
            record = os.read(self._descriptor_in, DESCRIPTOR_BYTES)
            while len(record) < DESCRIPTOR_BYTES:  # never seen: writes are atomic
                record += os.read(self._descriptor_in, DESCRIPTOR_BYTES - len(record))
        return FrameDescriptor.unpack(record)

    @contextlib.contextmanager
    def reading(self, descriptor: FrameDescriptor) -> Iterator[np.ndarray]:
        """The frame a taken descriptor points at, as a zero-copy view, for one block.

        The slot goes back to capture when the block ends, however it ends; the view must
        not be used after that (copy what you need inside the block).
        """
        try:
            yield frame_view(self.slot(descriptor.slot_index), descriptor)
        finally:
            self.release(descriptor.slot_index)

    def finished(self, worker_id: int) -> None:
        """The frame ``worker_id`` took last has its result sent: it is no longer at risk."""
        self.worker_holding[worker_id] = 0

    def release(self, slot_index: int) -> None:
        """Return a slot that was being read; releasing one that is not is an error.

        A second release would count a slot free twice, and two frames would later be
        written into one slot: it raises ``SlotStateError`` instead.
        """
        if self.slot_state[slot_index] != _READING:
            state = SlotState(int(self.slot_state[slot_index])).name
            raise SlotStateError(f"ring slot {slot_index} released while {state}")
        self.slot_owner[slot_index] = -1
        self.slot_state[slot_index] = _FREE
        self._free.release()

    def slot(self, slot_index: int) -> memoryview:
        start = self._slots_offset + slot_index * self.slot_stride
        return self._buffer[start : start + self.handle.slot_bytes]

    # -- supervisor side -------------------------------------------------------------

    def reclaim_worker(self, worker_id: int) -> int:
        """Free the slots a dead worker was reading, so the ring never shrinks, and count
        the frame it held without having sent its result in ``FRAMES_LOST``."""
        held = np.flatnonzero(
            (self.slot_owner == worker_id) & (self.slot_state == SlotState.READING)
        )
        for slot_index in held:
            self.release(int(slot_index))
        self.worker_busy_since_ns[worker_id] = 0
        self.counters[Counter.FRAMES_LOST] += self.worker_holding[worker_id]
        self.worker_holding[worker_id] = 0
        return len(held)

    def reclaim_writer(self) -> int:
        """Free the slot a dead capture process was writing (it held one while it waited
        for its next frame), so each killed capture does not cost the ring a slot."""
        writing = np.flatnonzero(self.slot_state == SlotState.WRITING)
        for slot_index in writing:
            self.abandon(int(slot_index))
        return len(writing)

    def filled_slot_count(self) -> int:
        """Frames written and waiting for a worker."""
        return int(np.count_nonzero(self.slot_state == SlotState.FILLED))

    def free_slot_count(self) -> int:
        return int(np.count_nonzero(self.slot_state == SlotState.FREE))

    def idle(self) -> bool:
        """True when no slot is written, waiting or being read."""
        return self.free_slot_count() == self.handle.slot_count
