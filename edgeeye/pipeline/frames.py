"""A frame in the ring: the descriptor that travels through the hand-off pipe, and its view.

The descriptor says where a frame is and how to read its bytes (the layouts are the
sources', ``sources.frame.PixelFormat``); a worker turns it into a zero-copy numpy view.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from edgeeye.sources.frame import PixelFormat

_DESCRIPTOR = struct.Struct("<iqqiiBq")
#: Bytes of one packed descriptor; well under PIPE_BUF, so each pipe write is atomic.
DESCRIPTOR_BYTES = _DESCRIPTOR.size


@dataclass(frozen=True, slots=True)
class FrameDescriptor:
    """Everything a worker needs to find and read one frame; 37 bytes on the wire.

    ``tag`` is source-specific: the index of the file for the images source, -1 otherwise.
    """

    slot_index: int
    sequence: int
    capture_ts_ns: int
    height: int
    width: int
    pixel_format: PixelFormat
    tag: int = -1

    def pack(self) -> bytes:
        return _DESCRIPTOR.pack(
            self.slot_index,
            self.sequence,
            self.capture_ts_ns,
            self.height,
            self.width,
            int(self.pixel_format),
            self.tag,
        )

    @classmethod
    def unpack(cls, data: bytes) -> FrameDescriptor:
        slot, seq, ts, h, w, fmt, tag = _DESCRIPTOR.unpack(data)
        return cls(slot, seq, ts, h, w, PixelFormat(fmt), tag)

    @property
    def is_wake(self) -> bool:
        """A descriptor without a frame: it only wakes a waiting worker (``WAKE``)."""
        return self.slot_index == _WAKE_SLOT

    @property
    def nbytes(self) -> int:
        return self.pixel_format.frame_bytes(self.height, self.width)


_WAKE_SLOT = -1
#: Sent through the hand-off pipe to wake a worker blocked there, so it sees a stop at once.
WAKE = FrameDescriptor(_WAKE_SLOT, -1, 0, 0, 0, PixelFormat.RGB888)


def frame_view(buffer: memoryview | np.ndarray, descriptor: FrameDescriptor) -> np.ndarray:
    """A zero-copy numpy view of the frame a descriptor points at, in its own layout."""
    shape = descriptor.pixel_format.array_shape(descriptor.height, descriptor.width)
    flat = np.frombuffer(buffer, dtype=np.uint8, count=descriptor.nbytes)
    return flat.reshape(shape)
