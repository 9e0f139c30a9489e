"""Snapshots: the frame behind a label change, as a small JPEG, made off the hot path.

Workers copy each frame they classify, as the model saw it, into the *snapshot board*
(one shared-memory segment of ``BOARD_SLOTS`` frames, slot = sequence % BOARD_SLOTS), but
only while snapshots are on.  The copy is one memcpy of the model input (150 KB at
224x224), small beside an invoke.  When the publish policy sees a change it copies that
frame out of the board at once; the ``SnapshotEncoder`` thread scales and encodes it
later, with Pillow, which releases the GIL while it works.

A slot carries its sequence twice, written before and after the pixels (a seqlock): a
reader that finds both equal to the sequence it wants, before and after copying, has a
whole frame; otherwise a later frame took the slot and the snapshot is skipped (counted).
"""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Any

import numpy as np

from edgeeye.config.sections import SnapshotConfig
from edgeeye.pipeline.ring import SEGMENT_PREFIX, SHM_DIR, check_shm_space

log = logging.getLogger(__name__)

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

    def __init__(self, handle: BoardHandle, buffer: Any, owner: Any = None) -> None:
        self.handle = handle
        self._owner = owner
        self._buffer = buffer
        self._header = np.ndarray((_HEADER_WORDS,), np.int64, buffer, 0)
        self._slots = np.ndarray(
            (BOARD_SLOTS, handle.slot_bytes), np.uint8, buffer, _HEADER_WORDS * 8
        )
        self._closed = False

    @classmethod
    def create(cls, slot_bytes: int) -> SnapshotBoard:
        size = _segment_bytes(slot_bytes)
        check_shm_space(size)
        name = f"{SEGMENT_PREFIX}{os.getpid()}_snap{secrets.token_hex(4)}"
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        board = cls(BoardHandle(name, slot_bytes), shm.buf, owner=shm)
        board._header[:] = -1
        board._header[0] = 0
        return board

    @classmethod
    def attach(cls, handle: BoardHandle) -> SnapshotBoard:
        fd = os.open(SHM_DIR / handle.segment_name, os.O_RDWR)
        try:
            mapping = mmap.mmap(fd, _segment_bytes(handle.slot_bytes))
        finally:
            os.close(fd)
        board = cls(handle, mapping)
        board._mapping = mapping
        return board

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
        if self._owner is not None:
            with contextlib.suppress(FileNotFoundError):
                self._owner.unlink()

    def close(self) -> None:
        """Unmap; the creating process also removes the segment.  Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._header = self._slots = None
        if self._owner is not None:
            self._buffer = None
            self._owner.close()
            with contextlib.suppress(FileNotFoundError):
                self._owner.unlink()
        else:
            with contextlib.suppress(BufferError):
                self._mapping.close()


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    sequence: int
    label: str | None


class SnapshotEncoder:
    """A thread that turns grabbed frames into JPEGs and hands them to ``deliver``.

    At most ``QUEUE`` frames wait; beyond that a change's snapshot is skipped (counted),
    so a flood of changes can never make the main process fall behind.
    """

    QUEUE = 4

    def __init__(self, deliver: Callable[[Snapshot], None]) -> None:
        self._deliver = deliver
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(self.QUEUE)
        self._thread = threading.Thread(target=self._run, name="edgeeye.snapshots", daemon=True)
        self.snapshots_skipped = 0
        self._thread.start()

    def submit(
        self, frame: np.ndarray, sequence: int, label: str | None, settings: SnapshotConfig
    ) -> None:
        try:
            self._queue.put_nowait((frame, sequence, label, settings))
        except queue.Full:
            self.snapshots_skipped += 1

    def skipped(self) -> None:
        """A change whose frame was no longer on the board."""
        self.snapshots_skipped += 1

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            frame, sequence, label, settings = job
            try:
                jpeg = encode_jpeg(frame, settings)
            except (OSError, ValueError) as exc:
                log.warning("snapshot of frame %d not encoded: %s", sequence, exc)
                self.snapshots_skipped += 1
                continue
            self._deliver(Snapshot(jpeg, sequence, label))


def encode_jpeg(frame: np.ndarray, settings: SnapshotConfig) -> bytes:
    """``frame`` (RGB) scaled to the configured size and encoded at its quality."""
    from PIL import Image

    image = Image.fromarray(frame, "RGB")
    size = (settings.width or image.width, settings.height or image.height)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=settings.quality)
    return out.getvalue()


class Snapshots:
    """The publisher's side: the board it grabs from, the encoder, and the counts.

    ``publish`` sends a finished JPEG (from the encoder thread) and says whether it went.
    """

    def __init__(self, publish: Callable[[Snapshot], bool]) -> None:
        self.board: SnapshotBoard | None = None
        self.enabled = False
        self.published = 0
        self._publish = publish
        self._encoder = SnapshotEncoder(self._deliver)

    @property
    def skipped(self) -> int:
        return self._encoder.snapshots_skipped

    def use_board(self, board: SnapshotBoard) -> None:
        """The board the workers write from now on."""
        board.enabled = self.enabled
        self.board = board

    def set_enabled(self, enabled: bool) -> None:
        """Workers copy frames only while this is on."""
        self.enabled = enabled
        if self.board is not None:
            self.board.enabled = enabled

    def grab(self, sequence: int) -> np.ndarray | None:
        """Copy a change's frame off the board, now, before a later frame takes its slot."""
        frame = self.board.get(sequence) if self.board is not None else None
        if frame is None:
            self._encoder.skipped()
        return frame

    def submit(
        self, frame: np.ndarray, sequence: int, label: str | None, settings: SnapshotConfig
    ) -> None:
        self._encoder.submit(frame, sequence, label, settings)

    def stop(self, timeout: float) -> None:
        self._encoder.stop(timeout)

    def _deliver(self, snapshot: Snapshot) -> None:
        self.published += self._publish(snapshot)
