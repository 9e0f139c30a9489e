"""What a source writes: a frame's pixel layout, the source interface, and their helpers.

A frame lives in a ring slot as a flat run of bytes.  Sources write into a slot view given
to them by the capture process and never allocate the frame themselves; preprocessing (in
the workers) reads the same layouts, so both import them from here.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edgeeye.errors import BadFrameError


class PixelFormat(enum.IntEnum):
    """Byte layout of a frame in a ring slot."""

    RGB888 = 1  # height x width x 3, bytes R,G,B
    BGR888 = 2  # height x width x 3, bytes B,G,R (picamera2's "RGB888" on a Pi 5, OpenCV)
    # I420 planar: Y (h x w), then U and V (h/2 x w/2 each); picamera2 lores on a Pi 4.  The
    # three differ only in the matrix that turns them into RGB, the camera's colour space:
    YUV420 = 3  # BT.601, limited range (libcamera's Smpte170m: main streams below 1280x720)
    YUV420_BT709 = 4  # BT.709, limited range (Rec709: picamera2's video default from 720p)
    YUV420_FULL = 5  # BT.601, full range (sYCC, as JPEG)

    @property
    def is_yuv(self) -> bool:
        return self in (PixelFormat.YUV420, PixelFormat.YUV420_BT709, PixelFormat.YUV420_FULL)

    def frame_bytes(self, height: int, width: int) -> int:
        if self.is_yuv:
            return height * width * 3 // 2
        return height * width * 3

    def array_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of the numpy view over a frame's bytes."""
        if self.is_yuv:
            return (height * 3 // 2, width)
        return (height, width, 3)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    """What a source reports after writing one frame into the slot it was given."""

    height: int
    width: int
    pixel_format: PixelFormat
    tag: int = -1
    #: When the frame was taken on ``time.monotonic_ns()``'s clock, if the source knows
    #: (a camera's sensor timestamp); 0: capture stamps it as it publishes the frame.
    captured_ns: int = 0


class SourceSettings(Protocol):
    """A source's settings: plain frozen data, so the capture process is handed them without
    the config models (and pydantic) they came from."""

    def make(self, model_size: tuple[int, int]) -> FrameSource:
        """The source, nothing opened; ``model_size`` is (height, width)."""
        ...


class FrameSource(Protocol):
    """A camera, a folder of images, a video, a generator.

    Lifecycle: ``open()`` once, then ``read_into()`` repeatedly, then ``close()`` (safe to
    call twice, and after a failed ``open()``).  Sources raise ``SourceError`` for faults.
    """

    #: True when the source ends (a folder read once) and every frame must be classified:
    #: capture then waits for a free slot instead of dropping the oldest waiting frame.
    finite: bool
    #: Bad frames in a row after which the source counts as failed rather than unlucky.
    bad_frame_limit: int

    def max_frame_bytes(self) -> int:
        """Largest frame this source will write; sizes the ring's slots. Callable before open()."""
        ...

    def open(self) -> None: ...

    def read_into(self, slot: memoryview, sequence: int) -> CapturedFrame | None:
        """Block until the next frame is due, write it into ``slot``, describe it.

        ``slot`` is at least ``max_frame_bytes()`` long; ``sequence`` is the number the
        capture process gives this frame (the synthetic source can stamp it into the
        pixels, see ``stamp_sequence``).  Returns None at the end of a finite source.
        """
        ...

    def close(self) -> None: ...


def check_frame_array(
    array: np.ndarray, min_shape: tuple[int, ...], slot_bytes: int, what: str
) -> None:
    """Raise ``BadFrameError`` unless ``array`` is 8-bit, at least ``min_shape`` in every
    dimension, and its frame fits a ring slot of ``slot_bytes``.

    Sources call this before copying, so a camera or decoder that hands over something else
    (16-bit or one-channel pixels, a truncated buffer, a stream resized behind our back)
    costs one counted skip with a message naming it, not a crashed capture process.
    """
    dims = "x".join(map(str, array.shape))
    if array.dtype != np.uint8:
        raise BadFrameError(f"{what}: frame of {array.dtype} pixels ({dims}), expected uint8")
    if array.ndim != len(min_shape) or any(
        have < need for have, need in zip(array.shape, min_shape, strict=True)
    ):
        expected = "x".join(map(str, min_shape))
        raise BadFrameError(f"{what}: frame of shape {dims}, expected {expected}")
    if math.prod(min_shape) > slot_bytes:
        raise BadFrameError(
            f"{what}: a {dims} frame does not fit the ring's {slot_bytes}-byte slots,"
            " sized at start"
        )


STAMP_BYTES = 8


def stamp_sequence(frame: np.ndarray, sequence: int) -> None:
    """Write ``sequence`` into the first and last 8 bytes of a frame.

    A worker that reads both stamps equal to its descriptor's sequence, before and after
    preprocessing, read a whole frame that nobody overwrote meanwhile.
    """
    flat = frame.reshape(-1)
    stamp = np.frombuffer(int(sequence).to_bytes(STAMP_BYTES, "little", signed=True), np.uint8)
    flat[:STAMP_BYTES] = stamp
    flat[-STAMP_BYTES:] = stamp


def read_stamps(frame: np.ndarray) -> tuple[int, int]:
    """The (first, last) sequence stamps of a frame written by ``stamp_sequence``."""
    flat = frame.reshape(-1)
    first = int.from_bytes(flat[:STAMP_BYTES].tobytes(), "little", signed=True)
    last = int.from_bytes(flat[-STAMP_BYTES:].tobytes(), "little", signed=True)
    return first, last


class Pacer:
    """Sleeps until the next frame is due; late frames are not made up for in a burst."""

    def __init__(self, fps: float) -> None:
        self._interval = 1.0 / fps if fps > 0 else 0.0
        self._next = 0.0

    def wait(self) -> None:
        if not self._interval:
            return
        now = time.monotonic()
        if self._next > now:
            time.sleep(self._next - now)
            now = self._next
        self._next = max(self._next + self._interval, now) if self._next else now + self._interval


def slot_array(slot: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(slot, np.uint8, count=math.prod(shape)).reshape(shape)
