"""Frames written into a real FrameRing the way the capture process writes them."""

from __future__ import annotations

from edgeeye.pipeline.frames import FrameDescriptor, frame_view
from edgeeye.pipeline.ring import FrameRing
from edgeeye.sources.frame import PixelFormat

#: The frame every test ring carries: 4x4 RGB.
HEIGHT = WIDTH = 4
FRAME_BYTES = HEIGHT * WIDTH * 3


def write_frame(
    ring: FrameRing, sequence: int, drop_oldest: bool = True
) -> tuple[int, FrameDescriptor | None] | None:
    """Frame ``sequence`` (every byte = sequence) published into a free slot: (the slot, the
    waiting frame dropped for it or None), or None if no slot came free within 50 ms."""
    acquired = ring.acquire_for_write(drop_oldest=drop_oldest, timeout=0.05)
    if acquired is None:
        return None
    slot_index, dropped = acquired
    descriptor = FrameDescriptor(
        slot_index, sequence, sequence * 10, HEIGHT, WIDTH, PixelFormat.RGB888
    )
    frame_view(ring.slot(slot_index), descriptor)[:] = sequence
    ring.publish(descriptor)
    return slot_index, dropped
