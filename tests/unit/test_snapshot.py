"""The snapshot board (shared memory, seqlock slots) and the JPEG encoder."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from edgeeye.config.sections import SnapshotConfig
from edgeeye.pipeline.segment import SHM_DIR
from edgeeye.pipeline.snapshot_board import BOARD_SLOTS, SnapshotBoard
from edgeeye.publish.snapshots import SnapshotEncoder, encode_jpeg


def _frame(value: int, size: int = 32) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_board_keeps_frames_only_while_enabled_and_only_until_overwritten():
    board = SnapshotBoard.create(32 * 32 * 3)
    worker = SnapshotBoard.attach(board.handle)
    try:
        worker.put(5, _frame(50))
        assert board.get(5) is None  # snapshots off: nothing copied
        board.enabled = True
        worker.put(5, _frame(50))
        assert np.array_equal(board.get(5), _frame(50))
        assert board.get(4) is None
        worker.put(5 + BOARD_SLOTS, _frame(60))  # the same slot, a later frame
        assert board.get(5) is None
        worker.put(7, _frame(1, size=64))  # larger than a slot: ignored, not corrupted
        assert board.get(7) is None
    finally:
        worker.close()
        board.close()
        board.close()  # safe twice
    assert not (SHM_DIR / board.handle.segment_name).exists()


def test_encoder_makes_jpegs_of_the_configured_size_on_its_own_thread():
    delivered = []
    done = threading.Event()

    def deliver(snapshot):
        delivered.append((snapshot, threading.current_thread().name))
        done.set()

    encoder = SnapshotEncoder(deliver)
    gradient = np.dstack([np.tile(np.arange(224, dtype=np.uint8), (224, 1))] * 3)
    encoder.submit(gradient, 42, "cat", SnapshotConfig(width=160, height=120, quality=60))
    assert done.wait(5)
    encoder.stop()
    snapshot, thread = delivered[0]
    assert (snapshot.sequence, snapshot.label, thread) == (42, "cat", "edgeeye.snapshots")
    image = Image.open(io.BytesIO(snapshot.jpeg))
    assert (image.format, image.size) == ("JPEG", (160, 120))


def test_quality_changes_the_bytes_and_default_size_is_the_frame():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    low = encode_jpeg(noisy, SnapshotConfig(quality=20))
    high = encode_jpeg(noisy, SnapshotConfig(quality=90))
    assert len(low) < len(high)
    assert Image.open(io.BytesIO(low)).size == (128, 96)
