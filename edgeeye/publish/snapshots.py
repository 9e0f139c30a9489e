"""Snapshots: the frame behind a label change, as a small JPEG, made off the hot path.

Workers copy each frame they classify, as the model saw it, onto the snapshot board
(``pipeline.snapshot_board``) while snapshots are on.  When the publish policy sees a
change, ``Snapshots.grab`` copies that frame off the board at once; the
``SnapshotEncoder`` thread scales and encodes it later, with Pillow, which releases the
GIL while it works.  A frame a later one has overwritten is skipped (counted).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeeye.config.sections import SnapshotConfig
from edgeeye.pipeline.snapshot_board import SnapshotBoard
from edgeeye.publish.snapshot_marks import Marks, cropped, draw

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    jpeg: bytes
    sequence: int
    label: str | None


@dataclass(frozen=True)
class _EncodeJob:
    """A grabbed frame waiting for the encoder thread."""

    frame: np.ndarray
    sequence: int
    label: str | None
    settings: SnapshotConfig
    marks: Marks


class SnapshotEncoder:
    """A thread that turns grabbed frames into JPEGs and hands them to ``deliver``.

    At most ``QUEUE`` frames wait; beyond that a change's snapshot is skipped (counted),
    so a flood of changes can never make the main process fall behind.
    """

    QUEUE = 4

    def __init__(self, deliver: Callable[[Snapshot], None]) -> None:
        self._deliver = deliver
        self._queue: queue.Queue[_EncodeJob | None] = queue.Queue(self.QUEUE)
        self._thread = threading.Thread(target=self._run, name="edgeeye.snapshots", daemon=True)
        self.snapshots_skipped = 0
        self._thread.start()

    def submit(
        self,
        frame: np.ndarray,
        sequence: int,
        label: str | None,
        settings: SnapshotConfig,
        marks: Marks,
    ) -> None:
        try:
            self._queue.put_nowait(_EncodeJob(frame, sequence, label, settings, marks))
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
            try:
                jpeg = encode_jpeg(job.frame, job.settings, job.marks)
            except (OSError, ValueError) as exc:
                log.warning("snapshot of frame %d not encoded: %s", job.sequence, exc)
                self.snapshots_skipped += 1
                continue
            self._deliver(Snapshot(jpeg, job.sequence, job.label))


def encode_jpeg(frame: np.ndarray, settings: SnapshotConfig, marks: Marks | None = None) -> bytes:
    """``frame`` (RGB) as ``marks`` says (cropped to the best detection, or with boxes
    drawn), scaled to the configured size and encoded at its quality.  A crop keeps its
    own shape, scaled to fit within that size."""
    from PIL import Image

    marks = marks or Marks("frame")
    image = cropped(Image.fromarray(frame, "RGB"), marks)
    size = (settings.width or frame.shape[1], settings.height or frame.shape[0])
    if marks.mode == "crop" and marks.detections:
        fit = min(size[0] / image.width, size[1] / image.height)
        size = (max(1, round(image.width * fit)), max(1, round(image.height * fit)))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    image = draw(image, marks)
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
        self,
        frame: np.ndarray,
        sequence: int,
        label: str | None,
        settings: SnapshotConfig,
        marks: Marks,
    ) -> None:
        self._encoder.submit(frame, sequence, label, settings, marks)

    def stop(self, timeout: float) -> None:
        self._encoder.stop(timeout)

    def _deliver(self, snapshot: Snapshot) -> None:
        self.published += self._publish(snapshot)
