"""The snapshot board (shared memory, seqlock slots) and the JPEG encoder."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from edgeeye.config.sections import SnapshotConfig
from edgeeye.pipeline.segment import SHM_DIR
from edgeeye.pipeline.snapshot_board import BOARD_SLOTS, SnapshotBoard
from edgeeye.publish.snapshot_marks import Marks
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
    config = SnapshotConfig(width=160, height=120, quality=60)
    encoder.submit(gradient, 42, "cat", config, Marks("frame"))
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


def test_boxes_are_drawn_where_the_detection_is_and_a_crop_is_its_box():
    from edgeeye.inference.results import Detection

    grey = np.full((300, 300, 3), 128, np.uint8)
    cat = Detection(16, "cat", 0.72, (0.1, 0.2, 0.6, 0.9))
    config = SnapshotConfig(quality=95)
    plain = np.asarray(Image.open(io.BytesIO(encode_jpeg(grey, config))), np.int16)
    boxed = encode_jpeg(grey, config, Marks("boxes", (cat,)))
    drawn = np.asarray(Image.open(io.BytesIO(boxed)), np.int16)
    changed = np.abs(drawn - plain).max(axis=2) > 40
    # The box's left edge (x = 0.1 of 299 pixels) from its label down to its bottom.
    assert changed[100:260, 29:31].all()
    assert not changed[:, 200:].any() and not changed[280:, :].any()  # nowhere else
    crop = Image.open(io.BytesIO(encode_jpeg(grey, config, Marks("crop", (cat,)))))
    # The box is 150x210 pixels of the 300x300 frame; scaled to fit 300x300.
    assert crop.size == (214, 300)
