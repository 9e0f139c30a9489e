"""The snapshot board: the last frames workers classified, kept for a possible snapshot.

Workers copy each frame they classify, as the model saw it, into the board (one
shared-memory segment of ``BOARD_SLOTS`` frames, slot = sequence % BOARD_SLOTS), but only
while snapshots are on.  The copy is one memcpy of the model input (150 KB at 224x224),
small beside an invoke.  The publisher copies a change's frame out again
(``publish.snapshots``).

A slot carries its sequence twice, written before and after the pixels (a seqlock): a
reader that finds both equal to the sequence it wants, before and after copying, has a
whole frame; otherwise a later frame took the slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeeye.pipeline.segment import Segment

#: Frames kept: a change is grabbed within a frame or two, so 16 leaves a wide margin.
BOARD_SLOTS = 16
_FIELDS = 4  # per slot: sequence before, sequence after, height, width
_HEADER_WORDS = 1 + BOARD_SLOTS * _FIELDS  # word 0: snapshots on (1) or off (0)


@dataclass(frozen=True)
class BoardHandle:
    """What a worker needs to attach to the board; pickled at spawn."""

    segment_name: str
    slot_bytes: int


def _segment_bytes(slot_bytes: int) -> int:
    return _HEADER_WORDS * 8 + BOARD_SLOTS * slot_bytes


class SnapshotBoard:
    """``create`` in the main process (which alone unlinks it), ``attach`` in workers."""

    def __init__(self, handle: BoardHandle, segment: Segment) -> None:
        self.handle = handle
        self._segment = segment
        buffer = segment.view
        self._header = np.ndarray((_HEADER_WORDS,), np.int64, buffer, 0)
        self._slots = np.ndarray(
            (BOARD_SLOTS, handle.slot_bytes), np.uint8, buffer, _HEADER_WORDS * 8
        )

    @classmethod
    def create(cls, slot_bytes: int) -> SnapshotBoard:
        segment = Segment.create("snap", _segment_bytes(slot_bytes), "the snapshot board")
        board = cls(BoardHandle(segment.name, slot_bytes), segment)
        board._header[:] = -1
        board._header[0] = 0
        return board

    @classmethod
    def attach(cls, handle: BoardHandle) -> SnapshotBoard:
        return cls(handle, Segment.attach(handle.segment_name, _segment_bytes(handle.slot_bytes)))

    @property
    def enabled(self) -> bool:
        return bool(self._header[0])

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._header[0] = int(value)

    def put(self, sequence: int, rgb: np.ndarray) -> None:
        """Worker side: keep this frame for a possible snapshot (only while enabled)."""
        if not self._header[0] or rgb.nbytes > self.handle.slot_bytes:
            return
        slot = sequence % BOARD_SLOTS
        base = 1 + slot * _FIELDS
        self._header[base] = sequence
        self._header[base + 2 : base + 4] = rgb.shape[:2]
        self._slots[slot, : rgb.nbytes] = rgb.reshape(-1)
        self._header[base + 1] = sequence

    def get(self, sequence: int) -> np.ndarray | None:
        """Main side: a copy of that frame (height x width x 3), or None if it is gone."""
        slot = sequence % BOARD_SLOTS
        base = 1 + slot * _FIELDS
        if self._header[base + 1] != sequence or self._header[base] != sequence:
            return None
        height, width = (int(v) for v in self._header[base + 2 : base + 4])
        frame = self._slots[slot, : height * width * 3].copy()
        if self._header[base] != sequence:  # a later frame started writing meanwhile
            return None
        return frame.reshape(height, width, 3)

    def unlink(self) -> None:
        """Remove the segment's name (creator only); mappings stay valid until closed."""
        self._segment.unlink()

    def close(self) -> None:
        """Unmap; the creating process also removes the segment.  Safe to call twice."""
        if self._segment.buffer is None:
            return
        del self._header, self._slots
        self._segment.close()
